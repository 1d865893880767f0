// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>

namespace miglab {

// s as XML character data or an attribute value (libvirt's domain XML,
// the report's SVG).
inline std::string xml_escape(const std::string &s)
{
    std::string r;
    for (char c : s) {
        switch (c) {
        case '&': r += "&amp;"; break;
        case '<': r += "&lt;"; break;
        case '>': r += "&gt;"; break;
        case '\'': r += "&apos;"; break;
        case '"': r += "&quot;"; break;
        default: r += c;
        }
    }
    return r;
}

} // namespace miglab
