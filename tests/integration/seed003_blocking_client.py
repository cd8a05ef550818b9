# The client.py of seed 003's blocking server, as the tutorial prints it
# (its indentation restored: the seed's text lost it). Changed: the server's
# address comes from the command line (HOST PORT) instead of
# ('localhost', 12346), so that a test can use a free port.
import socket
import sys
# 创建TCP套接字
client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# 服务器地址和端口号
server_address = (sys.argv[1], int(sys.argv[2]))
# 连接服务器
client_socket.connect(server_address)
# 接收服务器的消息
data = client_socket.recv(1024).decode()
print(f"已连接到服务器, 服务器消息:{data}")
while True:
    # 向服务器发送消息
    message = input()
    if message == "end":
        break
    client_socket.sendall(message.encode())
    print(client_socket.recv(1024).decode())
# 关闭客户端套接字
client_socket.close()
