// Running work on the CPU's leftovers: a thread at Linux's SCHED_IDLE policy runs only
// when no normal thread wants the CPU, so a background rebuild cannot slow searches.
#pragma once

#include <functional>

#include "vectron/status.h"

namespace vectron {

// Runs fn on a new thread at idle CPU priority and returns its status once it ends.
// Threads fn starts inherit the priority (pthread's default). Where the policy is not
// available (not Linux, or refused) fn runs at normal priority. It must not hold a lock
// that normal threads wait for: at idle priority it may not run for as long as the
// machine stays busy.
Status RunAtIdlePriority(const std::function<Status()>& fn);

// Whether the calling thread runs at idle priority (for tests and logs).
bool AtIdlePriority();

}  // namespace vectron
