# cmake -DREADME=README.md -DEXAMPLE=demos/readme_example.c [-DOUT=file] -P check_readme_example.cmake
# cmake -DREADME=docs/extending.md -DPROGRAM=bin/prog ["-DARGS=a b"] [-DEXPECT_RC=1]
#       -DMARKER=name -DFENCE=text [-DOUT=file] -P check_readme_example.cmake
#
# Fails unless the ```c block (```FENCE with FENCE) between the lines
# <!-- example:begin --> and <!-- example:end --> (MARKER instead of
# example) in README equals EXAMPLE (line endings and trailing blank lines
# aside). With PROGRAM instead of EXAMPLE, the block must equal what the
# program prints on stdout run with ARGS, and its exit status must be
# EXPECT_RC (0 unless given). OUT, if given, receives the block as extracted.

if(NOT DEFINED FENCE)
    set(FENCE c)
endif()
if(DEFINED PROGRAM)
    set(_inputs README)
else()
    set(_inputs README EXAMPLE)
endif()
foreach(_v ${_inputs})
    if(NOT DEFINED ${_v})
        message(FATAL_ERROR "check_readme_example: -D${_v}=... is required")
    endif()
    if(NOT EXISTS "${${_v}}")
        message(FATAL_ERROR "check_readme_example: ${${_v}} does not exist")
    endif()
endforeach()

file(READ "${README}" _readme)
if(DEFINED PROGRAM)
    if(NOT DEFINED EXPECT_RC)
        set(EXPECT_RC 0)
    endif()
    separate_arguments(_args UNIX_COMMAND "${ARGS}")
    execute_process(COMMAND "${PROGRAM}" ${_args} OUTPUT_VARIABLE _example RESULT_VARIABLE _rc)
    if(NOT _rc STREQUAL EXPECT_RC)
        message(FATAL_ERROR "${PROGRAM} ${ARGS} exited with ${_rc}, expected ${EXPECT_RC}:\n${_example}")
    endif()
    set(EXAMPLE "${PROGRAM} ${ARGS} (its output)")
    if(DEFINED OUT)
        file(WRITE "${OUT}.run" "${_example}")
    endif()
else()
    file(READ "${EXAMPLE}" _example)
endif()
string(REPLACE "\r\n" "\n" _readme "${_readme}")
string(REPLACE "\r\n" "\n" _example "${_example}")

# MARKER names the block: <!-- MARKER:begin --> ... <!-- MARKER:end -->
if(NOT DEFINED MARKER)
    set(MARKER example)
endif()
set(_begin "<!-- ${MARKER}:begin -->")
set(_end "<!-- ${MARKER}:end -->")
string(FIND "${_readme}" "${_begin}" _b)
string(FIND "${_readme}" "${_end}" _e)
if(_b EQUAL -1 OR _e EQUAL -1)
    message(FATAL_ERROR "${README}: the lines '${_begin}' and '${_end}' must both be present")
endif()
if(_e LESS _b)
    message(FATAL_ERROR "${README}: '${_end}' comes before '${_begin}'")
endif()
string(LENGTH "${_begin}" _blen)
math(EXPR _from "${_b} + ${_blen}")
math(EXPR _len "${_e} - ${_from}")
string(SUBSTRING "${_readme}" ${_from} ${_len} _section)

# The fence: a line "```c" opens it, the next line starting with ``` closes it.
string(FIND "${_section}" "\n```${FENCE}\n" _open)
if(_open EQUAL -1)
    message(FATAL_ERROR "${README}: no ```${FENCE} fence between '${_begin}' and '${_end}'")
endif()
string(LENGTH "\n```${FENCE}\n" _fence_len)
math(EXPR _code_from "${_open} + ${_fence_len}")
string(SUBSTRING "${_section}" ${_code_from} -1 _code)
string(FIND "${_code}" "\n```" _close)
if(_close EQUAL -1)
    if(_code MATCHES "^```")
        set(_close 0)
    else()
        message(FATAL_ERROR "${README}: the ```c fence of the example is not closed before '${_end}'")
    endif()
else()
    math(EXPR _close "${_close} + 1")
endif()
string(SUBSTRING "${_code}" 0 ${_close} _code)

# Compare without trailing whitespace/newlines at the very end.
string(REGEX REPLACE "[ \t\n]+$" "" _a "${_code}")
string(REGEX REPLACE "[ \t\n]+$" "" _x "${_example}")

if(DEFINED OUT)
    file(WRITE "${OUT}" "${_a}\n")
endif()

if(NOT _a STREQUAL _x)
    if(DEFINED OUT)
        find_program(_diff diff)
        if(_diff)
            # Printed as is: the block README holds (+) against the file (-).
            if(DEFINED PROGRAM)
                execute_process(COMMAND "${_diff}" -u "${OUT}.run" "${OUT}")
            else()
                execute_process(COMMAND "${_diff}" -u "${EXAMPLE}" "${OUT}")
            endif()
        endif()
    endif()
    message(FATAL_ERROR "The ```${FENCE} block in ${README} between '${_begin}' and '${_end}' "
                        "differs from ${EXAMPLE}: they must be the same code.")
endif()
message(STATUS "README example matches ${EXAMPLE}")
