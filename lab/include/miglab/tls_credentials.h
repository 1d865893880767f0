// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace miglab {

// x509 credentials for a migration over TLS on loopback, made with the
// openssl command in a directory of the caller's: a CA, a server
// certificate for 127.0.0.1 and localhost, and a client certificate, as
// QEMU's tls-creds-x509 reads them (ca-cert.pem, server-cert.pem,
// server-key.pem, client-cert.pem, client-key.pem). Throws, with
// openssl's message, when openssl is missing or fails.
class TlsCredentials {
public:
    explicit TlsCredentials(const std::filesystem::path &dir);

    // The objects both endpoints need, the same on either side (so that
    // one VmSpec serves a pair): a server and a client tls-creds-x509.
    std::vector<std::string> args() const;
    // Their ids, for the tls-creds parameter of each side.
    static const char *server_id() { return "miglab-tls-server"; }
    static const char *client_id() { return "miglab-tls-client"; }

private:
    std::filesystem::path dir_;
};

} // namespace miglab
