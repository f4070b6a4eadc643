/*
 * The fault guard: a mapped model file that shrinks under the process (another process truncates
 * it) must not kill it. Reading a mapped page past the new end of file raises SIGBUS; llama.cpp
 * dies there. This handler, for addresses inside a guarded range (the mappings bitload made),
 * maps a private zero page over the faulting page (mmap MAP_FIXED|MAP_ANONYMOUS) and counts the
 * event for that range; the faulting instruction is then retried and reads zeros. The TypeScript
 * side checks the counts (and the file's size) after every load, dequantize and generate step and
 * throws FILE_CHANGED, so results computed from those zeros are never used.
 *
 * Faults outside every guarded range go to the handler that was installed before (Deno's Rust
 * runtime uses SIGBUS/SIGSEGV for stack-guard detection; V8 may use them for WebAssembly traps),
 * or, if there was none, get the default action (the process dies as it would have).
 *
 * The ranges live in a fixed table of atomics, so the handler reads them without locks
 * (async-signal-safe; mmap is a plain system call).
 */
#include "bitload.h"

#if defined(_WIN32)

BL_API int32_t bl_fault_guard_install(void) { return -1; }
BL_API int32_t bl_fault_guard_add(int64_t start, int64_t length) {
  (void)start;
  (void)length;
  return -1;
}
BL_API void bl_fault_guard_remove(int32_t slot) { (void)slot; }
BL_API int64_t bl_fault_guard_events(int32_t slot) {
  (void)slot;
  return 0;
}

#else

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* Most mappings guarded at once (one per model part; split models have up to a few dozen). */
#define GUARD_SLOTS 256

static _Atomic uintptr_t guard_start[GUARD_SLOTS];
static _Atomic uintptr_t guard_end[GUARD_SLOTS];
static _Atomic int64_t guard_events[GUARD_SLOTS];
static atomic_int guard_installed;
static struct sigaction guard_previous;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  uintptr_t at = (uintptr_t)info->si_addr;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t start = atomic_load(&guard_start[i]);
    if (start == 0 || at < start || at >= atomic_load(&guard_end[i])) continue;
    void *zero = mmap((void *)(at & ~(page - 1)), page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    if (zero != MAP_FAILED) {
      atomic_fetch_add(&guard_events[i], 1);
      return; /* the access is retried and reads zeros */
    }
    break;
  }
  /* Not ours (or the zero page could not be mapped): what would have happened without us. */
  if ((guard_previous.sa_flags & SA_SIGINFO) && guard_previous.sa_sigaction != NULL) {
    guard_previous.sa_sigaction(sig, info, context);
  } else if (guard_previous.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL); /* ignoring a fault would loop forever */
  } else if (guard_previous.sa_handler != SIG_DFL && guard_previous.sa_handler != NULL) {
    guard_previous.sa_handler(sig);
  } else {
    signal(sig, SIG_DFL); /* returning retries the access, which now kills the process */
  }
}

/** Installs the SIGBUS handler once; returns 0, or -1 when sigaction fails. */
BL_API int32_t bl_fault_guard_install(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&guard_installed, &expected, 1)) return 0;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &guard_previous) != 0) {
    atomic_store(&guard_installed, 0);
    return -1;
  }
  return 0;
}

/** Guards [start, start + length); returns the slot (its event count starts at 0) or -1 when full. */
BL_API int32_t bl_fault_guard_add(int64_t start, int64_t length) {
  if (start == 0 || length <= 0) return -1;
  for (int i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t free_slot = 0;
    atomic_store(&guard_events[i], 0);
    if (atomic_compare_exchange_strong(&guard_start[i], &free_slot, (uintptr_t)start)) {
      atomic_store(&guard_end[i], (uintptr_t)start + (uintptr_t)length);
      return i;
    }
  }
  return -1;
}

/** Stops guarding a slot; call it before unmapping the range. */
BL_API void bl_fault_guard_remove(int32_t slot) {
  if (slot < 0 || slot >= GUARD_SLOTS) return;
  atomic_store(&guard_end[slot], 0);
  atomic_store(&guard_start[slot], 0);
}

/** Faults caught in a slot's range since it was added (0 for a bad slot). */
BL_API int64_t bl_fault_guard_events(int32_t slot) {
  if (slot < 0 || slot >= GUARD_SLOTS) return 0;
  return atomic_load(&guard_events[slot]);
}

#endif
