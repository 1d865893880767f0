// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/temp_dir.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace miglab {

TempDir::TempDir(const std::string &prefix)
{
    std::string tmpl = (std::filesystem::temp_directory_path() /
                        (prefix + ".XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        throw std::system_error(errno, std::generic_category(),
                                "mkdtemp " + tmpl);
    }
    path_ = buf.data();
}

TempDir::~TempDir()
{
    // MIGLAB_KEEP_TMP=1 keeps every scratch directory (QEMU logs, traces,
    // serial consoles) for a post-mortem.
    const char *keep = std::getenv("MIGLAB_KEEP_TMP");
    if (keep && *keep && *keep != '0' && !path_.empty()) {
        std::fprintf(stderr, "miglab: kept %s\n", path_.c_str());
        return;
    }
    if (!path_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
}

TempDir::TempDir(TempDir &&other) noexcept : path_(std::move(other.path_))
{
    other.path_.clear();
}

TempDir &TempDir::operator=(TempDir &&other) noexcept
{
    if (this != &other) {
        std::error_code ec;
        if (!path_.empty()) {
            std::filesystem::remove_all(path_, ec);
        }
        path_ = std::move(other.path_);
        other.path_.clear();
    }
    return *this;
}

} // namespace miglab
