/* The traffic every C peer sends, described the same way for all of them.
 *
 * Datagram i of the sequence goes to receiver order[i] and carries the `size` bytes of
 * `buffer` at slots[i] * size; the sequence is cut into send calls of calls[0], calls[1], ...
 * datagrams; the whole sequence is sent `rounds` times. */
#ifndef MMSG_PEERS_PLAN_H
#define MMSG_PEERS_PLAN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct mmsg_plan {
    const struct sockaddr_in *dests;
    const uint32_t *order;
    size_t count;
    const uint32_t *calls;
    size_t ncalls;
    size_t rounds;
    const unsigned char *buffer;
    const uint32_t *slots;
    size_t size;
};

/* Nanoseconds on the monotonic clock. */
long long mmsg_peer_now_ns(void);

#endif
