/* Plain blocking socket code, the way a C library is written: no
 * non-blocking mode, no event loop. Linked into a Rust program that uses
 * corio, its calls reach corio's hooks and park the calling coroutine. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connects to 127.0.0.1:port, sends `len` bytes of `msg`, then reads the
 * reply until the peer closes. Returns the number of reply bytes copied to
 * `out` (at most `cap`), or -errno. Alternates recv and read so both
 * fortified forms are used. */
long corio_ctest_exchange(unsigned short port, const char *msg, size_t len, char *out,
                          size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, msg + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        sent += (size_t)n;
    }
    size_t got = 0;
    char buf[256];
    /* Opaque to the optimiser, so the fortified checks stay in. */
    volatile size_t limit = sizeof buf;
    volatile nfds_t nfds = 1;
    for (int round = 0;; round++) {
        struct pollfd pfd[1];
        pfd[0].fd = fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        int ready = poll(pfd, nfds, 10000);
        if (ready <= 0) {
            int e = ready == 0 ? ETIMEDOUT : errno;
            close(fd);
            return -e;
        }
        size_t want = cap - got < limit ? cap - got : limit;
        ssize_t n = (round % 2 == 0) ? recv(fd, buf, want, 0) : read(fd, buf, want);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        memcpy(out + got, buf, (size_t)n);
        got += (size_t)n;
        if (got == cap)
            break;
    }
    close(fd);
    return (long)got;
}

/* Sleeps with nanosleep(2); returns 0 or -errno. */
int corio_ctest_nanosleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return nanosleep(&ts, NULL) == 0 ? 0 : -errno;
}
