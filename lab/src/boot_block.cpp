// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/boot_block.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace miglab {

BootBlockGuest::BootBlockGuest(const std::filesystem::path &qemu_src,
                               const std::filesystem::path &dir)
    : image_(dir / "bootsect")
{
    auto header = qemu_src / "tests/qtest/migration/i386/a-b-bootblock.h";
    std::ifstream in(header);
    if (!in) {
        throw std::runtime_error("cannot read " + header.string() +
                                 ": is the QEMU tree there (make src)?");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    auto body = text.find('{');
    auto body_end = text.find('}', body);
    if (body == std::string::npos || body_end == std::string::npos) {
        throw std::runtime_error("no byte array in " + header.string());
    }
    std::string bytes_text = text.substr(body, body_end - body);
    std::regex byte_re("0x([0-9a-fA-F]{2})");
    std::string image;
    for (auto it = std::sregex_iterator(bytes_text.begin(), bytes_text.end(),
                                        byte_re);
         it != std::sregex_iterator(); ++it) {
        image.push_back(static_cast<char>(std::stoi((*it)[1], nullptr, 16)));
    }
    if (image.size() != 512) {
        throw std::runtime_error("expected a 512-byte boot sector in " +
                                 header.string() + ", found " +
                                 std::to_string(image.size()));
    }
    std::ofstream out(image_, std::ios::binary);
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
}

std::vector<std::string> BootBlockGuest::args() const
{
    return {"-drive", "if=none,id=d0,file=" + image_.string() + ",format=raw",
            "-device", "ide-hd,drive=d0,secs=1,cyls=1,heads=1"};
}

} // namespace miglab
