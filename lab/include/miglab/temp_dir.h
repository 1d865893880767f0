// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <string>

namespace miglab {

// A directory that exists for this object's lifetime and is removed with
// everything in it when the object goes.
class TempDir {
public:
    explicit TempDir(const std::string &prefix = "miglab");
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    TempDir(TempDir &&other) noexcept;
    TempDir &operator=(TempDir &&other) noexcept;

    const std::filesystem::path &path() const { return path_; }

private:
    std::filesystem::path path_;
};

} // namespace miglab
