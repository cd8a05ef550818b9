// Copyright 2026 The spindle Authors.
//
// process_demo: the seed's multiprocessing.Process examples, in C++.
//
//   ./bazelw run //examples:process_demo
//
// The Python original, "simple use":
//
//   def work(num, name, age):
//       print(f"num: {num}, name: {name}, age: {age}")
//
//   p = multiprocessing.Process(target=work, args=(1,),
//                               kwargs={"name": "lczmx", "age": 22})
//   p.start()
//   p.join()
//
// and "method two", a subclass overriding run():
//
//   class MyProcess(multiprocessing.Process):
//       def run(self):
//           self.func1()
//           self.func2()
//       def func1(self): print("func1")
//       def func2(self): print("func2")
//
// followed by the "common methods" list: terminate(), pid, daemon, name,
// is_alive(), join(). This program runs all three parts in order.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "spindle/process/connection.h"
#include "spindle/process/process.h"

namespace {

// Part 1's target. C++ has no keyword arguments: they become ordinary
// parameters. It runs in the child, a forked copy of this program.
void Work(int num, const std::string& name, int age) {
  std::printf("num: %d, name: %s, age: %d\n", num, name.c_str(), age);
}

// Part 2: Python's "override run()". The base is constructed with Options
// (here just a name) and the child runs the overridden Run(), whose return
// value is the exit code.
class MyProcess : public spindle::Process {
 public:
  MyProcess() : Process(Options{.name = "MyProcess"}) {}

  int Run() override {
    Func1();
    Func2();
    return 0;
  }

 private:
  void Func1() { std::printf("func1\n"); }
  void Func2() { std::printf("func2\n"); }
};

int Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "process_demo: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main() {
  // --- 1. Process(target=work, args=..., kwargs=...) ---------------------
  // Output written with printf before Start() is flushed first, so the
  // child does not print it a second time.
  std::printf("== Process(target=work) ==\n");
  spindle::Process p(Work, 1, std::string("lczmx"), 22);
  if (Check(p.Start())) return 1;
  p.Join();  // wait for the child and reap it
  std::printf("%s exited with code %d\n", p.name().c_str(), *p.exitcode());

  // --- 2. class MyProcess(Process): def run(self) -------------------------
  std::printf("== MyProcess.run ==\n");
  MyProcess mp;
  if (Check(mp.Start())) return 1;
  mp.Join();
  std::printf("%s exited with code %d\n", mp.name().c_str(), *mp.exitcode());

  // --- 3. terminate(), pid, daemon, name, is_alive() ----------------------
  // A daemon child that would wait forever for a message. A pipe (not a
  // sleep) tells us when it is running.
  std::printf("== terminate / pid / daemon / is_alive ==\n");
  auto ready = spindle::Pipe(/*duplex=*/false);
  auto never = spindle::Pipe(/*duplex=*/false);
  if (Check(ready.status()) || Check(never.status())) return 1;
  spindle::Process sleeper(
      spindle::Process::Options{.name = "sleeper", .daemon = true},
      [&ready, &never] {
        (void)ready->second.SendBytes("running");
        (void)never->first.RecvBytes();  // blocks: nobody ever sends
      });
  std::printf("before start: pid=%d is_alive=%d daemon=%d\n",
              static_cast<int>(sleeper.pid()), sleeper.IsAlive(),
              sleeper.daemon());
  if (Check(sleeper.Start())) return 1;
  if (!ready->first.RecvBytes().ok()) return 1;
  std::printf("started: name=%s pid is set=%d is_alive=%d\n",
              sleeper.name().c_str(), sleeper.pid() > 0, sleeper.IsAlive());
  if (Check(sleeper.Terminate())) return 1;  // SIGTERM, "terminate now"
  if (!sleeper.JoinFor(absl::Seconds(30))) return 1;
  // Like Python, a child killed by signal N has exit code -N (-15 here).
  std::printf("after terminate: is_alive=%d exitcode=%d\n", sleeper.IsAlive(),
              *sleeper.exitcode());
  // Had we not terminated it: a daemon child is terminated when its Process
  // object is destroyed and, at the latest, when this program exits.
  return 0;
}
