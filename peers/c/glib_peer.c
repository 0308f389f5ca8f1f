/* GLib's g_socket_send_messages, the API mmsg takes as its reference: GOutputMessages
 * prepared before the clock starts, one g_socket_send_messages per call. */
#include <gio/gio.h>
#include <errno.h>
#include <unistd.h>

#include "plan.h"

/* Returns the nanoseconds the sends took, or -errno if preparing failed. The caller's fd is
 * duplicated: the GSocket owns and closes its copy. */
long long mmsg_peer_glib(int fd, const struct mmsg_plan *p, size_t ndests) {
    int own = dup(fd);
    if (own < 0)
        return -errno;
    GError *error = NULL;
    GSocket *socket = g_socket_new_from_fd(own, &error);
    if (!socket) {
        g_clear_error(&error);
        close(own);
        return -EINVAL;
    }
    GSocketAddress **addresses = g_new0(GSocketAddress *, ndests ? ndests : 1);
    for (size_t d = 0; d < ndests; d++)
        addresses[d] = g_socket_address_new_from_native((gpointer)&p->dests[d], sizeof p->dests[d]);
    GOutputVector *vectors = g_new0(GOutputVector, p->count ? p->count : 1);
    GOutputMessage *messages = g_new0(GOutputMessage, p->count ? p->count : 1);
    for (size_t i = 0; i < p->count; i++) {
        vectors[i].buffer = p->buffer + (size_t)p->slots[i] * p->size;
        vectors[i].size = p->size;
        messages[i].address = addresses[p->order[i]];
        messages[i].vectors = &vectors[i];
        messages[i].num_vectors = 1;
    }

    long long start = mmsg_peer_now_ns();
    for (size_t r = 0; r < p->rounds; r++) {
        GOutputMessage *next = messages;
        for (size_t c = 0; c < p->ncalls; c++) {
            /* GLib may send fewer than asked (it stops at the kernel's batch limit); an
             * error (a full queue) ends the call, as every sender in the bench does. */
            guint done = 0;
            while (done < p->calls[c]) {
                gint n = g_socket_send_messages(socket, next + done, p->calls[c] - done, 0,
                                                NULL, &error);
                if (n <= 0) {
                    g_clear_error(&error);
                    break;
                }
                done += (guint)n;
            }
            next += p->calls[c];
        }
    }
    long long elapsed = mmsg_peer_now_ns() - start;

    g_free(messages);
    g_free(vectors);
    for (size_t d = 0; d < ndests; d++)
        g_object_unref(addresses[d]);
    g_free(addresses);
    g_object_unref(socket);
    return elapsed;
}
