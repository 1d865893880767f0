// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace miglab {

// The command line of one of the lab's programs, read an argument at a
// time: -h/--help prints the usage and exits 0; every error is printed as
// "PROGRAM: message" and exits 2.
class CommandLine {
public:
    CommandLine(int argc, char **argv, std::string program, std::string usage);

    // The next argument, or nullopt after the last.
    std::optional<std::string> next();
    // The value of the option next() returned last (an error naming the
    // option when there is none).
    std::string value();
    // value() as a whole number (an error naming the option otherwise).
    uint64_t number();
    [[noreturn]] void fail(const std::string &message) const;
    // An error for an argument that is no option of this program, with
    // the usage.
    [[noreturn]] void unknown(const std::string &arg) const;
    const std::string &usage() const { return usage_; }

private:
    int argc_;
    char **argv_;
    int at_ = 0;
    std::string option_;
    std::string program_;
    std::string usage_;
};

} // namespace miglab
