/* The receive floors, written as a C programmer would: headers and control space prepared
 * before the loop, and the loop nothing but the receive call and the per-datagram work
 * every receiver of the bench does (see receive.h). The data buffers are the caller's, made
 * once and reused from drain to drain as the Rust receivers' are, so that every receiver
 * starts a drain with its buffers in the same state. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "plan.h"
#include "receive.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int mmsg_recv_wait(int fd, const struct mmsg_recv_want *w) {
    if (w->idle_ms <= 0)
        return 0;
    /* The sender's flag is read before the poll: once it is set, everything sent is in the
     * queue, so a poll that then finds nothing means the end. */
    int done = w->done && __atomic_load_n(w->done, __ATOMIC_ACQUIRE);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, w->idle_ms);
    if (n < 0)
        return errno == EINTR ? 1 : -errno;
    return n > 0 || !done;
}

/* The clock before the first call that returns data: taken before every call until then. */
#define FIRST_CLOCK(t, before) \
    long long before = (t)->calls ? 0 : mmsg_peer_now_ns()
#define FIRST_DATA(t, before) \
    if ((t)->calls++ == 0)    \
        (t)->first_ns = before;

/* recvmmsg of `batch` messages of one `buffer`-byte vector each, with the sender's address
 * (as every receiver of the bench gets it). */
int mmsg_peer_c_recvmmsg(int fd, const struct mmsg_recv_want *w, struct mmsg_recv_tally *t) {
    memset(t, 0, sizeof *t);
    size_t batch = w->batch ? w->batch : 1;
    unsigned char *data = w->data;
    struct iovec *vectors = calloc(batch, sizeof *vectors);
    struct sockaddr_storage *names = calloc(batch, sizeof *names);
    struct mmsghdr *headers = calloc(batch, sizeof *headers);
    if (!vectors || !names || !headers) {
        free(vectors), free(names), free(headers);
        return -ENOMEM;
    }
    for (size_t i = 0; i < batch; i++) {
        vectors[i].iov_base = data + i * w->buffer;
        vectors[i].iov_len = w->buffer;
    }
    int rc = 0;
    while (t->datagrams < w->count) {
        /* The kernel overwrites the name length and flags: set again before each call. */
        for (size_t i = 0; i < batch; i++) {
            headers[i].msg_hdr.msg_name = &names[i];
            headers[i].msg_hdr.msg_namelen = sizeof names[i];
            headers[i].msg_hdr.msg_iov = &vectors[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        FIRST_CLOCK(t, before);
        int n = recvmmsg(fd, headers, (unsigned)batch, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                rc = -errno;
                break;
            }
            int again = mmsg_recv_wait(fd, w);
            if (again <= 0) {
                rc = again;
                break;
            }
            continue;
        }
        FIRST_DATA(t, before);
        for (int i = 0; i < n; i++) {
            size_t len = headers[i].msg_len;
            if (headers[i].msg_hdr.msg_flags & MSG_TRUNC)
                len = w->buffer + 1; /* cut: never the right size */
            mmsg_recv_count(t, vectors[i].iov_base, len, w->size);
        }
        /* The end is known only after a wait when live: then every call reads the clock. */
        if (w->idle_ms > 0 || t->datagrams >= w->count)
            t->last_ns = mmsg_peer_now_ns();
    }
    free(vectors), free(names), free(headers);
    return rc;
}

/* A control buffer with room for UDP_GRO's segment size, aligned for cmsghdr. */
union gro_cmsg {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};

/* The segment size of a GRO receive: the UDP_GRO control message's, or the whole length
 * where the kernel sent none (one datagram). */
static size_t segment_of(struct msghdr *h, size_t len) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int segment;
            memcpy(&segment, CMSG_DATA(c), sizeof segment);
            if (segment > 0 && (size_t)segment < len)
                return (size_t)segment;
        }
    }
    return len;
}

/* Walks one coalesced buffer's datagrams in place. */
static void count_segments(struct mmsg_recv_tally *t, const unsigned char *data, size_t len,
                           size_t segment, size_t size) {
    if (len == 0) {
        mmsg_recv_count(t, data, 0, size);
        return;
    }
    for (size_t at = 0; at < len; at += segment)
        mmsg_recv_count(t, data + at, len - at < segment ? len - at : segment, size);
}

/* UDP_GRO receives (the socket has UDP_GRO on) into `buffer`-byte buffers (64 KiB: the
 * most the kernel coalesces), walking each buffer's segments in place: one recvmsg per
 * buffer when `batch` is 1, else recvmmsg of `batch` buffers. */
int mmsg_peer_c_gro(int fd, const struct mmsg_recv_want *w, struct mmsg_recv_tally *t) {
    memset(t, 0, sizeof *t);
    size_t batch = w->batch ? w->batch : 1;
    unsigned char *data = w->data;
    struct iovec *vectors = calloc(batch, sizeof *vectors);
    struct sockaddr_storage *names = calloc(batch, sizeof *names);
    union gro_cmsg *controls = calloc(batch, sizeof *controls);
    struct mmsghdr *headers = calloc(batch, sizeof *headers);
    if (!vectors || !names || !controls || !headers) {
        free(vectors), free(names), free(controls), free(headers);
        return -ENOMEM;
    }
    for (size_t i = 0; i < batch; i++) {
        vectors[i].iov_base = data + i * w->buffer;
        vectors[i].iov_len = w->buffer;
    }
    int rc = 0;
    while (t->datagrams < w->count) {
        for (size_t i = 0; i < batch; i++) {
            struct msghdr *h = &headers[i].msg_hdr;
            h->msg_name = &names[i];
            h->msg_namelen = sizeof names[i];
            h->msg_iov = &vectors[i];
            h->msg_iovlen = 1;
            h->msg_control = controls[i].buf;
            h->msg_controllen = sizeof controls[i].buf;
        }
        FIRST_CLOCK(t, before);
        int n;
        if (batch == 1) {
            ssize_t len = recvmsg(fd, &headers[0].msg_hdr, MSG_DONTWAIT);
            n = len < 0 ? -1 : 1;
            if (len >= 0)
                headers[0].msg_len = (unsigned)len;
        } else {
            n = recvmmsg(fd, headers, (unsigned)batch, MSG_DONTWAIT, NULL);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                rc = -errno;
                break;
            }
            int again = mmsg_recv_wait(fd, w);
            if (again <= 0) {
                rc = again;
                break;
            }
            continue;
        }
        FIRST_DATA(t, before);
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &headers[i].msg_hdr;
            size_t len = headers[i].msg_len;
            if (h->msg_flags & MSG_TRUNC) {
                mmsg_recv_count(t, vectors[i].iov_base, w->buffer + 1, w->size);
                continue;
            }
            count_segments(t, vectors[i].iov_base, len, segment_of(h, len), w->size);
        }
        /* The end is known only after a wait when live: then every call reads the clock. */
        if (w->idle_ms > 0 || t->datagrams >= w->count)
            t->last_ns = mmsg_peer_now_ns();
    }
    free(vectors), free(names), free(controls), free(headers);
    return rc;
}
