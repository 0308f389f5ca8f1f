/* The relay floors, written as a C programmer would: take `count` datagrams from socket
 * `in` (already queued there) and send each, unchanged and in order, to every recipient
 * from socket `out`. Everything is allocated before the clock starts; the timed loop is
 * receive calls and send calls only.
 *
 *  - mmsg_peer_relay_mmsg: recvmmsg 64 datagrams, then one sendmmsg per recipient.
 *  - mmsg_peer_relay_gro_gso: UDP_GRO on `in` (set by the caller before the datagrams were
 *    queued), recvmmsg of 64 KiB buffers, then per recipient one sendmmsg whose headers are
 *    the received buffers as they are, each one UDP_SEGMENT send of its segment size. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "plan.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define BATCH 64
#define SLOT 2048
#define GRO_BATCH 8
#define GRO_SLOT 65536

/* Sends `n` prepared headers with sendmmsg until all went; -errno on failure. */
static int send_all(int out, struct mmsghdr *headers, unsigned n) {
    unsigned sent = 0;
    while (sent < n) {
        int rc = sendmmsg(out, headers + sent, n - sent, 0);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        sent += (unsigned)rc;
    }
    return 0;
}

long long mmsg_peer_relay_mmsg(int in, int out, const struct sockaddr_in *dests, size_t ndests,
                               size_t count) {
    unsigned char *buffers = malloc((size_t)BATCH * SLOT);
    struct mmsghdr *in_headers = calloc(BATCH, sizeof *in_headers);
    struct iovec *in_vectors = calloc(BATCH, sizeof *in_vectors);
    struct mmsghdr *out_headers = calloc(BATCH, sizeof *out_headers);
    struct iovec *out_vectors = calloc(BATCH, sizeof *out_vectors);
    long long result = -ENOMEM;
    if (!buffers || !in_headers || !in_vectors || !out_headers || !out_vectors)
        goto done;
    for (unsigned i = 0; i < BATCH; i++) {
        in_vectors[i].iov_base = buffers + (size_t)i * SLOT;
        in_vectors[i].iov_len = SLOT;
        in_headers[i].msg_hdr.msg_iov = &in_vectors[i];
        in_headers[i].msg_hdr.msg_iovlen = 1;
        out_headers[i].msg_hdr.msg_iov = &out_vectors[i];
        out_headers[i].msg_hdr.msg_iovlen = 1;
        out_headers[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
    long long started = mmsg_peer_now_ns();
    size_t relayed = 0;
    while (relayed < count) {
        unsigned want = count - relayed < BATCH ? (unsigned)(count - relayed) : BATCH;
        int n = recvmmsg(in, in_headers, want, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            result = -errno;
            goto done;
        }
        for (int i = 0; i < n; i++) {
            out_vectors[i].iov_base = in_vectors[i].iov_base;
            out_vectors[i].iov_len = in_headers[i].msg_len;
        }
        for (size_t d = 0; d < ndests; d++) {
            for (int i = 0; i < n; i++)
                out_headers[i].msg_hdr.msg_name = (void *)&dests[d];
            int rc = send_all(out, out_headers, (unsigned)n);
            if (rc < 0) {
                result = rc;
                goto done;
            }
        }
        relayed += (size_t)n;
    }
    result = mmsg_peer_now_ns() - started;
done:
    free(buffers);
    free(in_headers);
    free(in_vectors);
    free(out_headers);
    free(out_vectors);
    return result;
}

/* A received control buffer, and one holding a UDP_SEGMENT message, aligned for cmsghdr. */
union gro_cmsg {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};
union segment_cmsg {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
};

/* The GRO segment size of a received buffer, or its length where the kernel gave none. */
static size_t segment_of(struct msghdr *h, size_t len) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int size;
            memcpy(&size, CMSG_DATA(c), sizeof size);
            if (size > 0 && (size_t)size < len)
                return (size_t)size;
        }
    }
    return len;
}

long long mmsg_peer_relay_gro_gso(int in, int out, const struct sockaddr_in *dests,
                                  size_t ndests, size_t count) {
    unsigned char *buffers = malloc((size_t)GRO_BATCH * GRO_SLOT);
    struct mmsghdr *in_headers = calloc(GRO_BATCH, sizeof *in_headers);
    struct iovec *in_vectors = calloc(GRO_BATCH, sizeof *in_vectors);
    union gro_cmsg *in_controls = calloc(GRO_BATCH, sizeof *in_controls);
    struct mmsghdr *out_headers = calloc(GRO_BATCH, sizeof *out_headers);
    struct iovec *out_vectors = calloc(GRO_BATCH, sizeof *out_vectors);
    union segment_cmsg *out_controls = calloc(GRO_BATCH, sizeof *out_controls);
    long long result = -ENOMEM;
    if (!buffers || !in_headers || !in_vectors || !in_controls || !out_headers ||
        !out_vectors || !out_controls)
        goto done;
    for (unsigned i = 0; i < GRO_BATCH; i++) {
        in_vectors[i].iov_base = buffers + (size_t)i * GRO_SLOT;
        in_vectors[i].iov_len = GRO_SLOT;
        in_headers[i].msg_hdr.msg_iov = &in_vectors[i];
        in_headers[i].msg_hdr.msg_iovlen = 1;
        out_headers[i].msg_hdr.msg_iov = &out_vectors[i];
        out_headers[i].msg_hdr.msg_iovlen = 1;
        out_headers[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
    long long started = mmsg_peer_now_ns();
    size_t relayed = 0;
    while (relayed < count) {
        for (unsigned i = 0; i < GRO_BATCH; i++) {
            in_headers[i].msg_hdr.msg_control = in_controls[i].buf;
            in_headers[i].msg_hdr.msg_controllen = sizeof in_controls[i].buf;
        }
        int n = recvmmsg(in, in_headers, GRO_BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            result = -errno;
            goto done;
        }
        /* Each received buffer goes out as it is: one header, segmented as it came. */
        for (int i = 0; i < n; i++) {
            size_t len = in_headers[i].msg_len;
            size_t segment = segment_of(&in_headers[i].msg_hdr, len);
            out_vectors[i].iov_base = in_vectors[i].iov_base;
            out_vectors[i].iov_len = len;
            struct msghdr *h = &out_headers[i].msg_hdr;
            if (segment < len) {
                h->msg_control = out_controls[i].buf;
                h->msg_controllen = sizeof out_controls[i].buf;
                struct cmsghdr *c = CMSG_FIRSTHDR(h);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t size = (uint16_t)segment;
                memcpy(CMSG_DATA(c), &size, sizeof size);
            } else {
                h->msg_control = NULL;
                h->msg_controllen = 0;
            }
            /* A 0-byte datagram is one datagram. */
            relayed += segment ? (len + segment - 1) / segment : 1;
        }
        for (size_t d = 0; d < ndests; d++) {
            for (int i = 0; i < n; i++)
                out_headers[i].msg_hdr.msg_name = (void *)&dests[d];
            int rc = send_all(out, out_headers, (unsigned)n);
            if (rc < 0) {
                result = rc;
                goto done;
            }
        }
    }
    result = mmsg_peer_now_ns() - started;
done:
    free(buffers);
    free(in_headers);
    free(in_vectors);
    free(in_controls);
    free(out_headers);
    free(out_vectors);
    free(out_controls);
    return result;
}
