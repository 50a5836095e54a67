/* The pause image of the local cluster: the process that holds each pod's
 * namespaces. It sleeps until told to stop and reaps the zombies that
 * processes sharing its PID namespace leave behind. Built with gcc -static,
 * so the image needs nothing else. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, 0, WNOHANG) > 0) {
    }
}

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
