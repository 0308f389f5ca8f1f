/* What every C receiver of the bench is asked to do, and what it reports.
 *
 * A receiver takes datagrams from a socket until it has `count` of them. With idle_ms 0 it
 * stops at the first EAGAIN (the bench filled the queue before the clock started, so an
 * empty queue means a datagram is missing); otherwise an empty queue is waited on, in
 * slices of at most idle_ms, until `*done` (set by the sender once it has sent everything
 * and seen it delivered) is non-zero and the queue is empty. Per datagram it does the same
 * light work as the bench's Rust receivers: its length compared with `size` and its first
 * byte added up, so that nothing can be skipped and a wrong walk shows. */
#ifndef MMSG_PEERS_RECEIVE_H
#define MMSG_PEERS_RECEIVE_H

#include <stddef.h>
#include <stdint.h>

struct mmsg_recv_want {
    unsigned char *data; /* the caller's buffers: batch of `buffer` bytes, back to back */
    size_t count;      /* datagrams to receive */
    size_t size;       /* the size every datagram should have */
    size_t batch;      /* messages (buffers) per receive call */
    size_t buffer;     /* bytes of each buffer */
    int idle_ms;       /* 0: stop when the queue is empty; else the wait slice */
    const int *done;   /* read atomically; may be NULL when idle_ms is 0 */
};

struct mmsg_recv_tally {
    uint64_t datagrams;  /* received */
    uint64_t wrong_size; /* of them, not `size` bytes long (or cut) */
    uint64_t sum;        /* their first bytes, added up */
    uint64_t calls;      /* receive calls that returned data */
    long long first_ns;  /* the clock just before the first call that returned data */
    long long last_ns;   /* the clock after the last datagram was looked at */
};

/* What the first byte of a datagram adds to the tally's sum (0 for an empty one). */
static inline void mmsg_recv_count(struct mmsg_recv_tally *t, const unsigned char *data,
                                   size_t len, size_t size) {
    t->datagrams++;
    t->wrong_size += len != size;
    t->sum += len ? data[0] : 0;
}

/* Waits for the queue after EAGAIN: 1 to try again, 0 to stop (queue empty and the
 * sender done, or no waiting asked for), -errno on a failed poll. */
int mmsg_recv_wait(int fd, const struct mmsg_recv_want *w);

#endif
