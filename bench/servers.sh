# shellcheck shell=bash
# The echo servers of bench/ab.sh and bench/instructions.sh, by the names
# the suite gives them (bench/src/bin/suite/main.rs keeps the suite's own
# table): `server_cmd NAME` prints the binary and its arguments for one
# server thread, without `--addr`. Sourced, not run; `$t` is the release
# directory (target/release).

# Prints NAME's command, or fails naming the servers known. Does not check
# that the binary was built (see `server_built`).
server_cmd() {
    : "${t:?bench/servers.sh: set t to the release directory first}"
    case $1 in
        corio) echo "$t/examples/echo" ;;
        epoll) echo "$t/peer_epoll" ;;
        tokio-ct) echo "$t/peer_tokio --flavor current" ;;
        may) echo "$t/peer_may --threads 1" ;;
        go) echo "$t/peer_go --threads 1" ;;
        *)
            echo "servers.sh: unknown server $1 (corio, epoll, tokio-ct, may, go)" >&2
            return 2
            ;;
    esac
}

# Fails, saying so, if NAME's binary is not built.
server_built() {
    local c
    c=$(server_cmd "$1") || return 2
    [ -x "${c%% *}" ] || {
        echo "servers.sh: ${c%% *} is not built (bench/run.sh builds every server)" >&2
        return 2
    }
}
