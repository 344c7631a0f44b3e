/*
 * telnetd.c: the least a fake telnetd can do, as a yardstick for the
 * benchmark (tests/bench). One thread, epoll, non-blocking sockets, as a
 * libevent server runs: BusyBox's greeting, "Password: " after each login
 * line, "Login incorrect" and the prompt after each password, close after
 * three attempts or when the client closes. It records nothing, so what the
 * agent spends beyond it per attempt is the price of being a Go program
 * that stores three events per connection.
 *
 * cc -O2 -o telnetd telnetd.c && ./telnetd 127.0.0.201 1392
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536

static const char greeting[] = "\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03\r\r\nOpenWrt login: ";
static const char password[] = "\r\nPassword: ";
static const char incorrect[] = "\r\nLogin incorrect\r\nOpenWrt login: ";

/* Per connection: how many lines so far, and where in an IAC sequence. */
static struct {
	unsigned char lines, iac;
} conns[MAXFD];

enum { DATA, IAC, OPT, SB, SBIAC };

static void say(int fd, const char *s, size_t n)
{
	if (write(fd, s, n) < 0) { /* the peer is gone: the next read says so */ }
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s ADDRESS PORT\n", argv[0]);
		return 2;
	}
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (l < 0 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 ||
	    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 4096)) {
		perror("listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l }, evs[256];
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, c;
			if (fd == l) {
				while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (c >= MAXFD) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					conns[c].lines = 0;
					conns[c].iac = DATA;
					say(c, greeting, sizeof greeting - 1);
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			unsigned char buf[512];
			ssize_t m = read(fd, buf, sizeof buf);
			if (m <= 0) {
				close(fd);
				continue;
			}
			for (ssize_t j = 0; j < m; j++) {
				unsigned char b = buf[j], *st = &conns[fd].iac;
				switch (*st) {
				case IAC:
					*st = b == 250 ? SB : (b >= 251 && b <= 254) ? OPT : DATA;
					continue;
				case OPT:
					*st = DATA;
					continue;
				case SB:
					*st = b == 255 ? SBIAC : SB;
					continue;
				case SBIAC:
					*st = b == 240 ? DATA : SB;
					continue;
				}
				if (b == 255) {
					*st = IAC;
				} else if (b == '\n') {
					if (++conns[fd].lines % 2) {
						say(fd, password, sizeof password - 1);
					} else if (conns[fd].lines < 6) {
						say(fd, incorrect, sizeof incorrect - 1);
					} else {
						say(fd, incorrect, sizeof "\r\nLogin incorrect\r\n" - 1);
						close(fd);
						break;
					}
				}
			}
		}
	}
}
