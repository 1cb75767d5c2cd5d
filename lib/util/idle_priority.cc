#include "util/idle_priority.h"

#include <thread>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace vectron {

Status RunAtIdlePriority(const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] {
#ifdef __linux__
    sched_param param{};
    param.sched_priority = 0;
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);  // Refused: normal priority.
#endif
    result = fn();
  });
  t.join();
  return result;
}

bool AtIdlePriority() {
#ifdef __linux__
  int policy = 0;
  sched_param param{};
  return pthread_getschedparam(pthread_self(), &policy, &param) == 0 && policy == SCHED_IDLE;
#else
  return false;
#endif
}

}  // namespace vectron
