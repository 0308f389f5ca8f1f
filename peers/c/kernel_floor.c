/* The kernel floor, written as a C programmer would: every header (and every UDP_SEGMENT
 * control message) is prepared before the clock starts, and the timed loop is nothing but
 * one sendmmsg per call. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "plan.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* The kernel's limits on one segmented send. */
#define GSO_MAX_SEGMENTS 64
#define UDP_MAX_PAYLOAD 65507

long long mmsg_peer_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A control buffer holding one UDP_SEGMENT message, aligned for cmsghdr. */
union segment_cmsg {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
};

/* Whether datagrams first..first+run-1 are consecutive slots of the buffer. */
static int back_to_back(const struct mmsg_plan *p, size_t first, size_t run) {
    for (size_t i = 1; i < run; i++)
        if (p->slots[first + i] != p->slots[first] + i)
            return 0;
    return 1;
}

/* Sends the plan with sendmmsg. With gso, each run of consecutive datagrams to one receiver
 * inside a call (up to the kernel's limits) is one header with UDP_SEGMENT; a run of one is a
 * plain header. Returns the nanoseconds the sends took, or -errno if preparing failed. */
long long mmsg_peer_c_sendmmsg(int fd, const struct mmsg_plan *p, int gso) {
    size_t max_run = 1;
    if (gso) {
        max_run = UDP_MAX_PAYLOAD / (p->size ? p->size : 1);
        if (max_run > GSO_MAX_SEGMENTS)
            max_run = GSO_MAX_SEGMENTS;
        if (max_run == 0)
            max_run = 1;
    }
    /* At most one header per datagram, and one vector per datagram (or per run where its
     * datagrams lie back to back). */
    struct mmsghdr *headers = calloc(p->count ? p->count : 1, sizeof *headers);
    struct iovec *vectors = calloc(p->count ? p->count : 1, sizeof *vectors);
    union segment_cmsg *controls = calloc(p->count ? p->count : 1, sizeof *controls);
    /* Headers per call. */
    unsigned *per_call = calloc(p->ncalls ? p->ncalls : 1, sizeof *per_call);
    if (!headers || !vectors || !controls || !per_call) {
        free(headers), free(vectors), free(controls), free(per_call);
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->count; i++) {
        vectors[i].iov_base = (void *)(p->buffer + (size_t)p->slots[i] * p->size);
        vectors[i].iov_len = p->size;
    }
    size_t datagram = 0, nheaders = 0;
    for (size_t c = 0; c < p->ncalls; c++) {
        size_t end = datagram + p->calls[c];
        while (datagram < end) {
            size_t run = 1;
            while (run < max_run && datagram + run < end &&
                   p->order[datagram + run] == p->order[datagram])
                run++;
            struct msghdr *h = &headers[nheaders].msg_hdr;
            h->msg_name = (void *)&p->dests[p->order[datagram]];
            h->msg_namelen = sizeof(struct sockaddr_in);
            h->msg_iov = &vectors[datagram];
            h->msg_iovlen = run;
            if (run > 1 && back_to_back(p, datagram, run)) {
                /* The run's datagrams lie back to back: hand the kernel one buffer. */
                vectors[datagram].iov_len = run * p->size;
                h->msg_iovlen = 1;
            }
            if (run > 1) {
                union segment_cmsg *u = &controls[nheaders];
                h->msg_control = u->buf;
                h->msg_controllen = sizeof u->buf;
                struct cmsghdr *cm = CMSG_FIRSTHDR(h);
                cm->cmsg_level = SOL_UDP;
                cm->cmsg_type = UDP_SEGMENT;
                cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t segment = (uint16_t)p->size;
                memcpy(CMSG_DATA(cm), &segment, sizeof segment);
            }
            nheaders++;
            per_call[c]++;
            datagram += run;
        }
    }

    long long start = mmsg_peer_now_ns();
    for (size_t r = 0; r < p->rounds; r++) {
        struct mmsghdr *next = headers;
        for (size_t c = 0; c < p->ncalls; c++) {
            /* Errors (a full queue) are ignored, as every sender in the bench does. */
            for (unsigned off = 0; off < per_call[c]; off += 1024) {
                unsigned n = per_call[c] - off < 1024 ? per_call[c] - off : 1024;
                sendmmsg(fd, next + off, n, 0);
            }
            next += per_call[c];
        }
    }
    long long elapsed = mmsg_peer_now_ns() - start;
    free(headers), free(vectors), free(controls), free(per_call);
    return elapsed;
}
