/* GLib's g_socket_receive_messages, the receive API mmsg takes as its reference:
 * GInputMessages of one vector each, prepared before the loop, each asking for its sender as
 * every receiver of the bench gets it (GLib makes a GSocketAddress per datagram, which the
 * caller unrefs), no control messages. */
#include <gio/gio.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plan.h"
#include "receive.h"

/* The caller's fd is duplicated: the GSocket owns and closes its copy. */
int mmsg_peer_glib_receive(int fd, const struct mmsg_recv_want *w,
                           struct mmsg_recv_tally *t) {
    memset(t, 0, sizeof *t);
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
    /* Non-blocking: an empty queue is G_IO_ERROR_WOULD_BLOCK, handled as in the C floors. */
    g_socket_set_blocking(socket, FALSE);
    guint batch = w->batch ? (guint)w->batch : 1;
    guint8 *data = w->data; /* the caller's, as for the C floors */
    GInputVector *vectors = g_new0(GInputVector, batch);
    GInputMessage *messages = g_new0(GInputMessage, batch);
    GSocketAddress **senders = g_new0(GSocketAddress *, batch);
    for (guint i = 0; i < batch; i++) {
        messages[i].address = &senders[i];
        vectors[i].buffer = data + i * w->buffer;
        vectors[i].size = w->buffer;
        messages[i].vectors = &vectors[i];
        messages[i].num_vectors = 1;
    }
    int rc = 0;
    while (t->datagrams < w->count) {
        long long before = t->calls ? 0 : mmsg_peer_now_ns();
        gint n = g_socket_receive_messages(socket, messages, batch, 0, NULL, &error);
        if (n < 0) {
            gboolean empty = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
            g_clear_error(&error);
            if (!empty) {
                rc = -EIO;
                break;
            }
            int again = mmsg_recv_wait(fd, w);
            if (again <= 0) {
                rc = again;
                break;
            }
            continue;
        }
        if (t->calls++ == 0)
            t->first_ns = before;
        for (gint i = 0; i < n; i++) {
            gsize len = messages[i].bytes_received;
            if (messages[i].flags & MSG_TRUNC)
                len = w->buffer + 1;
            mmsg_recv_count(t, vectors[i].buffer, len, w->size);
            g_clear_object(&senders[i]);
        }
        /* The end is known only after a wait when live: then every call reads the clock. */
        if (w->idle_ms > 0 || t->datagrams >= w->count)
            t->last_ns = mmsg_peer_now_ns();
    }
    g_free(senders);
    g_free(messages);
    g_free(vectors);
    g_object_unref(socket);
    return rc;
}
