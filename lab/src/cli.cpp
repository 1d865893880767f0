// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/cli.h"

#include <cstdlib>
#include <iostream>
#include <utility>

namespace miglab {

CommandLine::CommandLine(int argc, char **argv, std::string program,
                         std::string usage)
    : argc_(argc), argv_(argv), program_(std::move(program)),
      usage_(std::move(usage))
{
}

std::optional<std::string> CommandLine::next()
{
    if (++at_ >= argc_) {
        return std::nullopt;
    }
    option_ = argv_[at_];
    if (option_ == "-h" || option_ == "--help") {
        std::cout << usage_;
        std::exit(0);
    }
    return option_;
}

std::string CommandLine::value()
{
    if (at_ + 1 >= argc_) {
        fail(option_ + " needs a value\n" + usage_);
    }
    return argv_[++at_];
}

uint64_t CommandLine::number()
{
    const std::string v = value();
    try {
        size_t end = 0;
        uint64_t n = std::stoull(v, &end);
        // All of it, and no sign: stoull reads "2.5" as 2 and "-1" as 2^64-1.
        if (end == v.size() && v[0] != '-' && v[0] != '+') {
            return n;
        }
    } catch (const std::exception &) {
    }
    fail(option_ + " takes a whole number, got '" + v + "'");
}

void CommandLine::fail(const std::string &message) const
{
    std::cerr << program_ << ": " << message << "\n";
    std::exit(2);
}

void CommandLine::unknown(const std::string &arg) const
{
    fail("unknown option " + arg + "\n" + usage_);
}

} // namespace miglab
