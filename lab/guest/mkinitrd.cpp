// SPDX-License-Identifier: GPL-2.0-or-later
//
// mkinitrd: writes the lab guest's initrd, a newc cpio archive:
//   /init            the static stress program
//   /dev/console     character device 5:1 (made here: no root, no mknod)
//   /proc /sys       mount points
//   /modules/NN-x.ko the requested kernel modules and what they depend on,
//                    in load order (dependencies from each module's
//                    "depends=" modinfo string)
//   /modules/deps    "name file dep..." per module: /init loads the ones
//                    a run asks for (miglab_modules=...) with their deps
//
// usage: mkinitrd --init FILE --modules-dir DIR [--module NAME]... -o OUT
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

class Cpio {
public:
    explicit Cpio(const fs::path &out) : path_(out), out_(out, std::ios::binary)
    {
        if (!out_) {
            throw std::runtime_error("cannot write " + out.string());
        }
    }
    void dir(const std::string &name) { entry(name, 040755, "", 0, 0); }
    void file(const std::string &name, const std::string &data, unsigned mode)
    {
        entry(name, 0100000 | mode, data, 0, 0);
    }
    void chardev(const std::string &name, unsigned major, unsigned minor)
    {
        entry(name, 020600, "", major, minor);
    }
    void finish() { entry("TRAILER!!!", 0, "", 0, 0); }
    // Flushes and closes the archive; throws, naming the file, when any
    // write failed (a full disk must not leave a truncated initrd).
    void close()
    {
        errno = 0;
        out_.flush();
        check();
        out_.close();
        check();
    }

private:
    // Right after a failed write errno says why.
    void check()
    {
        if (!out_) {
            throw std::runtime_error("cannot write " + path_.string() + ": " +
                                     std::strerror(errno ? errno : EIO));
        }
    }
    // Writes and counts (tellp() is -1 once a write failed, so padding to
    // it never ended), then checks the stream.
    void put(const char *data, size_t n)
    {
        errno = 0;
        out_.write(data, static_cast<std::streamsize>(n));
        check();
        pos_ += n;
    }
    void pad()
    {
        static const char zeros[4] = {};
        put(zeros, (4 - pos_ % 4) % 4);
    }
    void entry(const std::string &name, unsigned mode, const std::string &data,
               unsigned rmajor, unsigned rminor)
    {
        char hdr[111];
        std::snprintf(hdr, sizeof(hdr),
                      "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                      ino_++, mode, 0u, 0u, 1u, 0u,
                      static_cast<unsigned>(data.size()), 0u, 0u, rmajor,
                      rminor, static_cast<unsigned>(name.size() + 1), 0u);
        put(hdr, 110);
        put(name.c_str(), name.size() + 1);
        pad();
        put(data.data(), data.size());
        pad();
    }
    fs::path path_;
    std::ofstream out_;
    size_t pos_ = 0;
    unsigned ino_ = 1;
};

std::string slurp(const fs::path &p)
{
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + p.string());
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string module_name(const fs::path &ko)
{
    std::string n = ko.stem().string();
    for (auto &c : n) {
        if (c == '-') {
            c = '_';
        }
    }
    return n;
}

std::vector<std::string> depends_of(const std::string &ko_data)
{
    std::vector<std::string> deps;
    auto pos = ko_data.find(std::string("depends=", 8));
    while (pos != std::string::npos && pos > 0 && ko_data[pos - 1] != '\0') {
        pos = ko_data.find("depends=", pos + 1);
    }
    if (pos == std::string::npos) {
        return deps;
    }
    std::string list = ko_data.c_str() + pos + 8;
    std::stringstream ss(list);
    std::string d;
    while (std::getline(ss, d, ',')) {
        if (!d.empty()) {
            deps.push_back(d);
        }
    }
    return deps;
}

void add_with_deps(const std::string &name,
                   const std::map<std::string, fs::path> &index,
                   std::set<std::string> &seen,
                   std::vector<fs::path> &order)
{
    if (seen.count(name)) {
        return;
    }
    seen.insert(name);
    auto it = index.find(name);
    if (it == index.end()) {
        throw std::runtime_error("module " + name + " is not in the kernel "
                                 "package's modules (built in, or misspelt?)");
    }
    for (const auto &d : depends_of(slurp(it->second))) {
        if (index.count(d)) {
            add_with_deps(d, index, seen, order);
        }
    }
    order.push_back(it->second);
}

} // namespace

int main(int argc, char **argv)
{
    fs::path init, modules_dir, out;
    std::vector<std::string> modules;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "mkinitrd: " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--init") {
            init = value();
        } else if (a == "--modules-dir") {
            modules_dir = value();
        } else if (a == "--module") {
            modules.push_back(value());
        } else if (a == "-o") {
            out = value();
        } else {
            std::cerr << "usage: mkinitrd --init FILE --modules-dir DIR "
                         "[--module NAME]... -o OUT\n";
            return 2;
        }
    }
    if (init.empty() || out.empty()) {
        std::cerr << "mkinitrd: --init and -o are required\n";
        return 2;
    }
    try {
        std::map<std::string, fs::path> index;
        if (!modules.empty()) {
            for (const auto &e : fs::recursive_directory_iterator(modules_dir)) {
                if (e.path().extension() == ".ko") {
                    index[module_name(e.path())] = e.path();
                }
            }
        }
        std::set<std::string> seen;
        std::vector<fs::path> order;
        for (const auto &m : modules) {
            add_with_deps(m, index, seen, order);
        }
        fs::path tmp = out;
        tmp += ".tmp";
        {
            Cpio c(tmp);
            for (const char *d : {"dev", "proc", "sys", "modules"}) {
                c.dir(d);
            }
            c.chardev("dev/console", 5, 1);
            c.file("init", slurp(init), 0755);
            unsigned n = 0;
            std::string deps;
            for (const auto &ko : order) {
                char prefix[8];
                std::snprintf(prefix, sizeof(prefix), "%02u-", n++);
                std::string file = std::string(prefix) + ko.filename().string();
                std::string data = slurp(ko);
                c.file("modules/" + file, data, 0644);
                deps += module_name(ko) + " " + file;
                for (const auto &d : depends_of(data)) {
                    if (index.count(d)) {
                        deps += " " + d;
                    }
                }
                deps += "\n";
            }
            c.file("modules/deps", deps, 0644);
            c.finish();
            try {
                c.close();
            } catch (const std::exception &) {
                std::error_code ec;
                fs::remove(tmp, ec);
                throw;
            }
        }
        fs::rename(tmp, out);
        std::cout << "mkinitrd: " << out.string() << " (" << order.size()
                  << " modules)\n";
    } catch (const std::exception &e) {
        std::cerr << "mkinitrd: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
