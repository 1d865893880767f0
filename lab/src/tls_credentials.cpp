// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/tls_credentials.h"

#include <fstream>
#include <stdexcept>

#include "miglab/command.h"

namespace miglab {

namespace {

void openssl(const std::vector<std::string> &args)
{
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = run_command(argv, Millis(60000));
    if (!r.ok()) {
        throw std::runtime_error(command_line(argv) + ": " + r.describe());
    }
}

// A key and a certificate signed by the CA in dir, with the extensions
// in an openssl config section of its own.
void issue(const std::filesystem::path &dir, const std::string &who,
           const std::string &extensions)
{
    const auto ext = dir / (who + ".ext");
    std::ofstream(ext) << extensions;
    const std::string key = (dir / (who + "-key.pem")).string();
    const std::string csr = (dir / (who + ".csr")).string();
    openssl({"req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-subj", "/CN=miglab " + who, "-out", csr});
    openssl({"x509", "-req", "-in", csr, "-CA", (dir / "ca-cert.pem").string(),
             "-CAkey", (dir / "ca-key.pem").string(), "-CAcreateserial",
             "-days", "2", "-sha256", "-extfile", ext.string(), "-out",
             (dir / (who + "-cert.pem")).string()});
}

} // namespace

TlsCredentials::TlsCredentials(const std::filesystem::path &dir) : dir_(dir)
{
    std::filesystem::create_directories(dir);
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-sha256", "-subj", "/CN=miglab CA", "-keyout",
             (dir / "ca-key.pem").string(), "-out", (dir / "ca-cert.pem").string(),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
    issue(dir, "server",
          "basicConstraints=CA:FALSE\n"
          "keyUsage=digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\n"
          "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    issue(dir, "client",
          "basicConstraints=CA:FALSE\n"
          "keyUsage=digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=clientAuth\n");
}

std::vector<std::string> TlsCredentials::args() const
{
    const std::string d = dir_.string();
    return {"-object",
            std::string("tls-creds-x509,id=") + server_id() + ",endpoint=server,"
                "verify-peer=on,dir=" + d,
            "-object",
            std::string("tls-creds-x509,id=") + client_id() + ",endpoint=client,"
                "verify-peer=on,dir=" + d};
}

} // namespace miglab
