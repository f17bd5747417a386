// The uWebSockets peer of scripts/peers.sh: an echo server on uWebSockets'
// own API, the way its examples/EchoServer.cpp is written, with what a
// benchmark needs pinned down: 127.0.0.1 and the port from argv[1], no
// permessage-deflate, and an idle timeout (960 s, uWS's maximum) longer than
// any run, so that the idle-memory runs' quiet connections stay open.
// Every message goes back as it came, text as text.
//
// Built by peers.sh from the uWebSockets and uSockets sources that the
// crates.io package libuwebsockets-sys 0.0.10 carries (uWS v20), without
// SSL or zlib, -O3 -flto; nothing third-party is committed.
#include "App.h"

#include <cstdlib>
#include <iostream>

int main(int argc, char **argv) {
    if (argc != 2 || std::atoi(argv[1]) <= 0) {
        std::cerr << "usage: uws_echo PORT\n";
        return 2;
    }
    int port = std::atoi(argv[1]);
    struct PerSocket {};
    uWS::App()
        .ws<PerSocket>("/*", {
            .compression = uWS::DISABLED,
            .maxPayloadLength = 16 * 1024 * 1024,
            .idleTimeout = 960,
            .maxBackpressure = 64 * 1024 * 1024,
            .message = [](auto *ws, std::string_view message, uWS::OpCode opCode) {
                ws->send(message, opCode, false);
            },
        })
        .listen("127.0.0.1", port, [port](auto *listen_socket) {
            if (!listen_socket) {
                std::cerr << "uws_echo: cannot listen on 127.0.0.1:" << port << "\n";
                std::exit(1);
            }
        })
        .run();
}
