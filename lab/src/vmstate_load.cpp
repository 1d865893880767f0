// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/vmstate_load.h"

#include "miglab/trace_log.h"

#include <cstdlib>
#include <fstream>

namespace miglab {

std::vector<std::string> DeviceSet::args() const
{
    std::vector<std::string> a;
    for (unsigned i = 0; i < virtio_net; ++i) {
        const std::string id = "miglab-net" + std::to_string(i);
        std::string netdev = "tap,id=" + id + ",script=no,downscript=no";
        std::string dev = "virtio-net-pci,netdev=" + id;
        if (net_queues > 1) {
            netdev += ",queues=" + std::to_string(net_queues);
            dev += ",mq=on,vectors=" + std::to_string(2 * net_queues + 2);
        }
        a.insert(a.end(), {"-netdev", netdev, "-device", dev});
    }
    for (unsigned i = 0; i < virtio_blk; ++i) {
        const std::string id = "miglab-blk" + std::to_string(i);
        a.insert(a.end(),
                 {"-blockdev",
                  "driver=null-co,node-name=" + id +
                      ",size=1073741824,read-zeroes=on",
                  "-device",
                  "virtio-blk-pci,drive=" + id +
                      ",num-queues=" + std::to_string(blk_queues)});
    }
    if (balloon == Balloon::on) {
        a.insert(a.end(), {"-device", "virtio-balloon-pci,id=miglab-balloon"});
    } else if (balloon == Balloon::hint) {
        a.insert(a.end(), {"-object", "iothread,id=miglab-balloon-io",
                           "-device",
                           "virtio-balloon-pci,id=miglab-balloon,"
                           "free-page-hint=on,iothread=miglab-balloon-io"});
    }
    return a;
}

std::vector<std::string> load_trace_events()
{
    return {"qemu_loadvm_state_section", "qemu_loadvm_state_post_main",
            "flatview_new", "memory_region_transaction_flus*"};
}

std::optional<LoadWindow> parse_load_window(const std::filesystem::path &log)
{
    std::ifstream in(log);
    std::string line;
    TraceLine l;
    double start = 0;
    bool after_end = false, open = false;
    LoadWindow w;
    std::optional<LoadWindow> last;
    while (std::getline(in, line)) {
        if (!TraceLine::parse(line, l)) {
            continue;
        }
        const std::string &event = l.event;
        const double t = l.t;
        if (event == "qemu_loadvm_state_section") {
            int type = std::atoi(l.args.c_str());
            if (type == 3) {            // QEMU_VM_SECTION_END
                after_end = true;
                open = false;
            } else if (type == 4 && after_end && !open) {  // FULL
                open = true;
                start = t;
                w = LoadWindow{};
            }
            w.sections += open && type == 4;
        } else if (event == "qemu_loadvm_state_post_main" && open) {
            w.load_ms = (t - start) * 1000.0;
            last = w;
            open = after_end = false;
        } else if (open && event == "flatview_new") {
            ++w.flatviews;
        } else if (open && event == "memory_region_transaction_flush") {
            ++w.flushes;
        }
    }
    return last;
}

} // namespace miglab
