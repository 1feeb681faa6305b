# One CTest fuzz entry (tests/fuzz/CMakeLists.txt): runs HARNESS for SECONDS
# over a fresh copy of its seed corpus SEEDS (in WORK, so the source tree is
# never written), first replaying every input of REGRESSIONS (inputs that
# once found a bug), with the libFuzzer dictionary DICT if not empty. Crash
# inputs are written to FINDINGS/. Fails when the harness reports anything.
foreach(v HARNESS SEEDS WORK FINDINGS SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: ${v} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/tmp ${FINDINGS})
file(GLOB seeds ${SEEDS}/*)
if(seeds)
  file(COPY ${seeds} DESTINATION ${WORK}/corpus)
endif()

# Scratch files of the harnesses (TMPDIR) stay in WORK.
set(run ${CMAKE_COMMAND} -E env TMPDIR=${WORK}/tmp ${HARNESS})

if(DEFINED REGRESSIONS AND IS_DIRECTORY ${REGRESSIONS})
  file(GLOB regressions ${REGRESSIONS}/*)
  if(regressions)
    execute_process(COMMAND ${run} -runs=0 ${regressions} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "fuzz: a regression input of ${REGRESSIONS} fails again (exit ${rc})")
    endif()
  endif()
endif()

set(options -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
  -artifact_prefix=${FINDINGS}/)
if(DICT)
  list(APPEND options -dict=${DICT})
endif()
execute_process(COMMAND ${run} ${options} ${WORK}/corpus RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: ${HARNESS} found a problem (exit ${rc}); the input is in ${FINDINGS}/")
endif()
