// Peer echo server in Go: one goroutine per connection, each with its own
// --buf-byte buffer, Read (up to buf bytes) then Write of all of them back,
// TCP_NODELAY. Go's net package sets TCP_NODELAY on every TCP connection by
// default, so there is no explicit SetNoDelay call: the socket options are
// those of the Rust peers. --threads sets runtime.GOMAXPROCS (how many
// threads run Go code at once; the runtime keeps a few more OS threads,
// e.g. sysmon); the network poller is the runtime's own epoll.
//
// Standard library only, nothing to download. bench/run.sh builds it into
// target/release/peer_go when `go` is on PATH; by hand:
// `cd bench/go && go build -o ../../target/release/peer_go .`.
//
// Run: `target/release/peer_go --addr 127.0.0.1:7000 [--threads 1]
// [--buf 16384]`; like the Rust peers it prints nothing when it starts
// (errors go to stderr) and serves until killed. Flags take `--name value`
// or `--name=value`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
)

const usage = `peer_go: echo server in Go, a goroutine per connection

usage: peer_go [--addr 127.0.0.1:7000] [--threads 1] [--buf 16384]`

func main() {
	fs := flag.NewFlagSet("peer_go", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:7000", "address to listen on")
	threads := fs.Int("threads", 1, "GOMAXPROCS")
	buf := fs.Int("buf", 16*1024, "per-connection buffer, bytes")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Println(usage)
			os.Exit(0)
		}
		usageError(err.Error())
	}
	if fs.NArg() > 0 {
		usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *threads < 1 || *buf < 1 {
		usageError("--threads and --buf must be at least 1")
	}
	runtime.GOMAXPROCS(*threads)
	if err := raiseNofileLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "peer_go: cannot raise RLIMIT_NOFILE: %v\n", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer_go: bind %s: %v\n", *addr, err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "peer_go: accept: %v\n", err)
			if errors.Is(err, net.ErrClosed) {
				os.Exit(1)
			}
			continue
		}
		go echo(conn, *buf)
	}
}

// echo copies what conn sends back to it, one read of up to bufSize bytes
// at a time, until EOF or an error; then closes it.
func echo(conn net.Conn, bufSize int) {
	defer conn.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			// Write returns only once all n bytes are written (or on error).
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// raiseNofileLimit raises the soft RLIMIT_NOFILE to the hard limit, like
// the Rust peers (Go 1.19 and later also do this at start-up).
func raiseNofileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return nil
}

// usageError prints msg and the usage to stderr and exits with status 2,
// like the Rust peers' argument parser.
func usageError(msg string) {
	fmt.Fprintf(os.Stderr, "error: %s\n\n%s\n", msg, usage)
	os.Exit(2)
}
