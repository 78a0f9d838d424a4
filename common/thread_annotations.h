#pragma once

// Clang's thread-safety attributes (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html).
// The clang builds of ./test.sh compile with -Wthread-safety -Werror, so a field marked
// DRIFT_GUARDED_BY(mu_) that is touched without mu_ held fails the build; under GCC these
// expand to nothing.

#if defined(__clang__)
#define DRIFT_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define DRIFT_THREAD_ATTRIBUTE(x)
#endif

#define DRIFT_CAPABILITY(x) DRIFT_THREAD_ATTRIBUTE(capability(x))
#define DRIFT_SCOPED_CAPABILITY DRIFT_THREAD_ATTRIBUTE(scoped_lockable)
#define DRIFT_GUARDED_BY(x) DRIFT_THREAD_ATTRIBUTE(guarded_by(x))
#define DRIFT_PT_GUARDED_BY(x) DRIFT_THREAD_ATTRIBUTE(pt_guarded_by(x))
#define DRIFT_ACQUIRED_BEFORE(...) DRIFT_THREAD_ATTRIBUTE(acquired_before(__VA_ARGS__))
#define DRIFT_ACQUIRED_AFTER(...) DRIFT_THREAD_ATTRIBUTE(acquired_after(__VA_ARGS__))
#define DRIFT_REQUIRES(...) DRIFT_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
#define DRIFT_ACQUIRE(...) DRIFT_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define DRIFT_RELEASE(...) DRIFT_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))
#define DRIFT_TRY_ACQUIRE(...) DRIFT_THREAD_ATTRIBUTE(try_acquire_capability(__VA_ARGS__))
#define DRIFT_EXCLUDES(...) DRIFT_THREAD_ATTRIBUTE(locks_excluded(__VA_ARGS__))
#define DRIFT_ASSERT_HELD(x) DRIFT_THREAD_ATTRIBUTE(assert_capability(x))
#define DRIFT_RETURN_CAPABILITY(x) DRIFT_THREAD_ATTRIBUTE(lock_returned(x))
#define DRIFT_NO_THREAD_SAFETY_ANALYSIS DRIFT_THREAD_ATTRIBUTE(no_thread_safety_analysis)
