# The client.py of seed 003's selector server, as the tutorial prints it
# (its indentation restored: the seed's text lost it). Changed: the server's
# address comes from the command line (HOST PORT) instead of
# (socket.gethostname(), 9999), so that a test can use a free port.
import socket
import sys
client = socket.socket(family=socket. AF_INET, type=socket.SOCK_STREAM)
host = sys.argv[1]
client.connect((host, int(sys.argv[2])))
while True:
    data = input("客户端发送数据:").strip()
    client.send(data.encode())
    if data == "end" or data == "":
        client.close()
        break
    print(client.recv(1024).decode("utf-8"))
