#!/bin/sh
# hello.sh: the CGI greeting as a shell script (no PATH needed: builtins).
printf 'Content-Type: text/plain\n\nHello from sh, %s!\n' "${QUERY_STRING:-world}"
