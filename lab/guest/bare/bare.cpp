// SPDX-License-Identifier: GPL-2.0-or-later
//
// The bare stress guest (freestanding, no library): boot.S brings every
// vCPU to long mode and calls bare_main() on the bootstrap processor and
// cpu_main() on the others. Ring-0 work is kept short (under kvm_pvm it
// is emulated instruction by instruction): read the configuration from
// fw_cfg, calibrate the TSC, set up GDT/TSS/IDT, start the other vCPUs,
// then drop to ring 3, where each vCPU writes (or reads) its working set
// forever and keeps its counters in the status page (bare_layout.h).
//
// Configuration: the fw_cfg file opt/miglab/bare holds "key=value" words:
//   ws_mib=N      working set per vCPU, MiB (default 64)
//   hot_pct=N     % of each writer's set that is hot (default 0: uniform)
//   hot_share=N   % of writes that go to the hot part (default 0)
//   rate=N        pages/s per vCPU, 0 = as fast as possible (default 0)
//   rates=A,B,..  per-vCPU rates, overriding rate for the first vCPUs
//   readers=N     the last N vCPUs only read their set (default 0)
//   burst_ms=N    with idle_ms: writers write for burst_ms, then wait
//   idle_ms=N     idle_ms, repeating; cycles aligned on the TSC (default 0)
// A bad configuration puts the guest in State::error with a message.
#include <stddef.h>
#include <stdint.h>

#include "miglab/bare_layout.h"

using namespace miglab::bare;

extern "C" {
[[noreturn]] void bare_main();
[[noreturn]] void cpu_main(unsigned index);
[[noreturn]] void on_exception(uint64_t vector, uint64_t error, uint64_t rip,
                               uint64_t cr2);
[[noreturn]] void enter_ring3(void (*entry)(unsigned), uint64_t rsp,
                              unsigned arg);
void load_segments();
void irq_ignore();
extern char exc_stubs[];

// The compiler may emit calls to these for struct copies.
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
}

void *memset(void *d, int c, size_t n)
{
    void *ret = d;
    asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return ret;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *ret = d;
    asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return ret;
}

namespace {

constexpr uint64_t page = 4096;
constexpr uint16_t sel_kcode = 0x08, sel_kdata = 0x10, sel_tss0 = 0x28;
constexpr uint64_t lapic = 0xfee00000;

volatile BareStatus &status()
{
    return *reinterpret_cast<volatile BareStatus *>(status_gpa);
}

// ---- port I/O and other privileged helpers (ring 0 only) ----

void outb(uint16_t port, uint8_t v)
{
    asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void outw(uint16_t port, uint16_t v)
{
    asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

uint8_t inb(uint16_t port)
{
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

uint64_t rdtsc()
{
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

void cpu_relax()
{
    asm volatile("pause");
}

[[noreturn]] void halt_forever()
{
    for (;;) {
        asm volatile("cli; hlt");
    }
}

// ---- status page ----

size_t append_message(size_t n, const char *p)
{
    volatile char *m = status().message;
    for (; *p && n + 1 < sizeof(status().message); ++p) {
        m[n++] = *p;
    }
    m[n] = 0;
    return n;
}

void set_message(const char *a, const char *b = "")
{
    append_message(append_message(0, a), b);
}

[[noreturn]] void config_error(const char *what, const char *detail = "")
{
    set_message(what, detail);
    status().state = uint64_t(State::error);
    status().magic = status_magic;
    halt_forever();
}

// ---- fw_cfg (I/O ports 0x510/0x511) ----

void fw_select(uint16_t key)
{
    outw(0x510, key);
}

void fw_read(void *buf, size_t n)
{
    auto *p = static_cast<uint8_t *>(buf);
    for (size_t i = 0; i < n; ++i) {
        p[i] = inb(0x511);
    }
}

uint32_t be32(const uint8_t *p)
{
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
           p[3];
}

bool same(const char *a, const char *b)
{
    while (*a && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

// Reads the named fw_cfg file into buf (NUL-terminated); false if absent.
bool fw_file(const char *name, char *buf, size_t cap)
{
    uint8_t count[4];
    fw_select(0x19); // FW_CFG_FILE_DIR
    fw_read(count, 4);
    for (uint32_t i = 0; i < be32(count); ++i) {
        uint8_t entry[64]; // be32 size, be16 select, u16, char name[56]
        fw_read(entry, sizeof(entry));
        entry[63] = 0;
        if (same(reinterpret_cast<char *>(entry + 8), name)) {
            uint32_t size = be32(entry);
            if (size >= cap) {
                config_error("configuration too long");
            }
            fw_select(uint16_t(entry[4] << 8 | entry[5]));
            fw_read(buf, size);
            buf[size] = 0;
            return true;
        }
    }
    return false;
}

uint64_t fw_le64(uint16_t key)
{
    uint8_t b[8];
    fw_select(key);
    fw_read(b, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = v << 8 | b[i];
    }
    return v;
}

// ---- configuration ----

struct Config {
    uint64_t ws_mib = 64;
    uint64_t hot_pct = 0;
    uint64_t hot_share = 0;
    uint64_t rate = 0;
    uint64_t rates[max_cpus] = {};
    unsigned nrates = 0;
    uint64_t readers = 0;
    uint64_t burst_ms = 0;
    uint64_t idle_ms = 0;
};

const char *parse_number(const char *p, uint64_t *out, const char *key)
{
    if (*p < '0' || *p > '9') {
        config_error("expected a number after ", key);
    }
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; ++p) {
        v = v * 10 + uint64_t(*p - '0');
    }
    *out = v;
    return p;
}

// p points at "key=...": true and past the '=' when the key matches.
bool key_is(const char *&p, const char *key)
{
    const char *q = p;
    while (*key && *q == *key) {
        ++q;
        ++key;
    }
    if (*key || *q != '=') {
        return false;
    }
    p = q + 1;
    return true;
}

Config parse_config(const char *p)
{
    Config c;
    while (*p) {
        if (*p == ' ' || *p == '\n') {
            ++p;
            continue;
        }
        const char *word = p;
        if (key_is(p, "ws_mib")) {
            p = parse_number(p, &c.ws_mib, "ws_mib=");
        } else if (key_is(p, "hot_pct")) {
            p = parse_number(p, &c.hot_pct, "hot_pct=");
        } else if (key_is(p, "hot_share")) {
            p = parse_number(p, &c.hot_share, "hot_share=");
        } else if (key_is(p, "rate")) {
            p = parse_number(p, &c.rate, "rate=");
        } else if (key_is(p, "readers")) {
            p = parse_number(p, &c.readers, "readers=");
        } else if (key_is(p, "burst_ms")) {
            p = parse_number(p, &c.burst_ms, "burst_ms=");
        } else if (key_is(p, "idle_ms")) {
            p = parse_number(p, &c.idle_ms, "idle_ms=");
        } else if (key_is(p, "rates")) {
            for (;;) {
                if (c.nrates == max_cpus) {
                    config_error("too many rates");
                }
                p = parse_number(p, &c.rates[c.nrates++], "rates=");
                if (*p != ',') {
                    break;
                }
                ++p;
            }
        } else {
            config_error("unknown setting: ", word);
        }
        if (*p && *p != ' ' && *p != '\n') {
            config_error("bad value in: ", word);
        }
    }
    if (c.ws_mib == 0 || c.hot_pct > 100 || c.hot_share > 100) {
        config_error("ws_mib must be > 0, hot_pct and hot_share <= 100");
    }
    return c;
}

// ---- TSC calibration against PIT channel 2 (50 ms) ----

uint64_t calibrate_tsc_khz()
{
    constexpr uint32_t ticks = 1193182 / 20;
    outb(0x61, uint8_t((inb(0x61) & ~0x02) | 0x01)); // gate on, speaker off
    outb(0x43, 0xb0);                                // ch 2, lo/hi, mode 0
    outb(0x42, uint8_t(ticks & 0xff));
    outb(0x42, uint8_t(ticks >> 8));
    uint64_t t0 = rdtsc();
    while (!(inb(0x61) & 0x20)) {
    }
    return (rdtsc() - t0) / 50;
}

void delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + status().tsc_khz * us / 1000;
    while (rdtsc() < end) {
        cpu_relax();
    }
}

// ---- descriptor tables ----

struct [[gnu::packed]] Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

struct [[gnu::packed]] TablePointer {
    uint16_t limit;
    uint64_t base;
};

struct IdtGate {
    uint64_t lo, hi;
};

alignas(16) uint64_t gdt[5 + 2 * max_cpus];
alignas(16) Tss tss[max_cpus];
alignas(16) IdtGate idt[256];

void setup_tables()
{
    gdt[0] = 0;
    gdt[1] = 0x00af9b000000ffffULL; // 0x08 kernel code, 64-bit
    gdt[2] = 0x00cf93000000ffffULL; // 0x10 kernel data
    gdt[3] = 0x00cff3000000ffffULL; // 0x18 user data
    gdt[4] = 0x00affb000000ffffULL; // 0x20 user code, 64-bit
    for (unsigned i = 0; i < max_cpus; ++i) {
        tss[i].rsp[0] = stack_base + i * stack_size + ring0_stack_top;
        tss[i].iomap_base = sizeof(Tss);
        uint64_t base = reinterpret_cast<uint64_t>(&tss[i]);
        uint64_t limit = sizeof(Tss) - 1;
        gdt[5 + 2 * i] = (limit & 0xffff) | (base & 0xffffff) << 16 |
                         0x89ULL << 40 | ((base >> 24) & 0xff) << 56;
        gdt[6 + 2 * i] = base >> 32;
    }
    for (unsigned v = 0; v < 256; ++v) {
        uint64_t h = v < 32 ? reinterpret_cast<uint64_t>(exc_stubs) + 16 * v
                            : reinterpret_cast<uint64_t>(&irq_ignore);
        idt[v].lo = (h & 0xffff) | uint64_t(sel_kcode) << 16 |
                    0x8eULL << 40 | ((h >> 16) & 0xffff) << 48;
        idt[v].hi = h >> 32;
    }
}

void load_tables(unsigned index)
{
    TablePointer g{sizeof(gdt) - 1, reinterpret_cast<uint64_t>(gdt)};
    TablePointer i{sizeof(idt) - 1, reinterpret_cast<uint64_t>(idt)};
    asm volatile("lgdt %0" : : "m"(g));
    load_segments();
    asm volatile("lidt %0" : : "m"(i));
    asm volatile("ltr %w0" : : "r"(uint16_t(sel_tss0 + 16 * index)));
}

// ---- the other vCPUs: INIT, SIPI, SIPI to all but self (xAPIC) ----

void apic_write(uint32_t reg, uint32_t v)
{
    *reinterpret_cast<volatile uint32_t *>(lapic + reg) = v;
}

void apic_send(uint32_t icr_low)
{
    apic_write(0x310, 0);
    apic_write(0x300, icr_low);
    for (int i = 0; i < 100000; ++i) {
        if (!(*reinterpret_cast<volatile uint32_t *>(lapic + 0x300) &
              (1u << 12))) {
            break;
        }
        cpu_relax();
    }
}

void start_other_cpus()
{
    apic_write(0xf0, 0x1ff); // software-enable, spurious vector 0xff
    apic_send(0x000c4500);   // INIT, all excluding self
    delay_us(10000);
    apic_send(0x000c4608); // SIPI, vector 0x08 -> 0x8000
    delay_us(200);
    apic_send(0x000c4608);
}

// ---- ring 3: the loops ----

inline void write_page(uint64_t gpa, uint64_t cpu, uint64_t seq)
{
    auto *p = reinterpret_cast<volatile uint64_t *>(gpa);
    uint64_t stamp = cpu << 48 | (seq & 0xffffffffffffULL);
    p[0] = stamp;
    p[1] = stamp ^ gpa ^ bare_pattern_magic;
}

// Paces a loop to `rate` pages/s in chunks of about a millisecond; a
// vCPU that was stopped (throttled, migrated) does not burst to catch up
// beyond 10 ms.
class Pacer {
public:
    Pacer(uint64_t rate, uint64_t tsc_khz)
        : chunk_(rate ? (rate >= 1000 ? rate / 1000 : 1) : 64),
          tsc_per_chunk_(rate ? tsc_khz * 1000 * chunk_ / rate : 0),
          slack_(tsc_khz * 10), next_(rdtsc())
    {
    }
    uint64_t chunk() const { return chunk_; }
    void wait()
    {
        if (!tsc_per_chunk_) {
            return;
        }
        next_ += tsc_per_chunk_;
        uint64_t now;
        while ((now = rdtsc()) < next_) {
            cpu_relax();
        }
        if (now - next_ > slack_) {
            next_ = now - slack_;
        }
    }

private:
    uint64_t chunk_, tsc_per_chunk_, slack_, next_;
};

// With bursts: waits (without writing) through the idle part of the
// current cycle, if in it.
void idle_if_due(uint64_t burst_tsc, uint64_t cycle_tsc)
{
    if (!cycle_tsc) {
        return;
    }
    uint64_t now = rdtsc();
    if (now % cycle_tsc >= burst_tsc) {
        uint64_t next = now - now % cycle_tsc + cycle_tsc;
        while (rdtsc() < next) {
            cpu_relax();
        }
    }
}

[[noreturn]] void writer_loop(unsigned index)
{
    volatile BareCpu &c = status().cpu[index];
    const uint64_t base = c.region_gpa, n = c.region_pages;
    const uint64_t hot = status().hot_pages, share = status().hot_share;
    const uint64_t cold = n - hot;
    Pacer pacer(c.rate, status().tsc_khz);
    const uint64_t burst_tsc = status().burst_ms * status().tsc_khz;
    const uint64_t cycle_tsc =
        (status().burst_ms + status().idle_ms) * status().tsc_khz;
    uint64_t seq = 0, passes = 0, hot_i = 0, cold_i = 0, mod100 = 0;
    for (;;) {
        for (uint64_t i = 0; i < pacer.chunk(); ++i) {
            uint64_t pg;
            if (hot && mod100 < share) {
                pg = hot_i;
                hot_i = hot_i + 1 == hot ? 0 : hot_i + 1;
            } else {
                pg = hot + cold_i;
                if (++cold_i == cold) {
                    cold_i = 0;
                    ++passes;
                }
            }
            mod100 = mod100 == 99 ? 0 : mod100 + 1;
            write_page(base + pg * page, index, ++seq);
        }
        c.pages = seq;
        c.passes = passes;
        c.tsc = rdtsc();
        pacer.wait();
        idle_if_due(burst_tsc, cycle_tsc);
    }
}

[[noreturn]] void reader_loop(unsigned index)
{
    volatile BareCpu &c = status().cpu[index];
    const uint64_t base = c.region_gpa, n = c.region_pages;
    Pacer pacer(c.rate, status().tsc_khz);
    uint64_t done = 0, passes = 0, at = 0;
    for (;;) {
        for (uint64_t i = 0; i < pacer.chunk(); ++i) {
            (void)*reinterpret_cast<volatile uint64_t *>(base + at * page);
            if (++at == n) {
                at = 0;
                ++passes;
            }
        }
        done += pacer.chunk();
        c.pages = done;
        c.passes = passes;
        c.tsc = rdtsc();
        pacer.wait();
    }
}

[[noreturn]] void ring3_main(unsigned index)
{
    volatile BareStatus &s = status();
    s.cpu[index].in_ring3 = 1;
    uint64_t up = __atomic_add_fetch(&const_cast<BareStatus &>(s).cpus_in_ring3,
                                     1, __ATOMIC_SEQ_CST);
    if (up == s.cpus) {
        s.state = uint64_t(State::running);
    }
    if (s.cpu[index].role == uint64_t(Role::reader)) {
        reader_loop(index);
    }
    writer_loop(index);
}

} // namespace

void on_exception(uint64_t vector, uint64_t error, uint64_t rip, uint64_t cr2)
{
    volatile BareStatus &s = status();
    s.fault_vector = vector;
    s.fault_error = error;
    s.fault_rip = rip;
    s.fault_cr2 = cr2;
    s.state = uint64_t(State::fault);
    halt_forever();
}

void cpu_main(unsigned index)
{
    if (index >= status().cpus) {
        halt_forever();
    }
    load_tables(index);
    enter_ring3(ring3_main, stack_base + index * stack_size + stack_size,
                index);
}

void bare_main()
{
    volatile BareStatus &s = status();
    memset(const_cast<BareStatus *>(&s), 0, sizeof(BareStatus));
    s.version = status_version;

    static char text[512];
    Config c;
    if (fw_file(config_file, text, sizeof(text))) {
        c = parse_config(text);
    }
    fw_select(0x05); // FW_CFG_NB_CPUS, le16
    uint8_t nb[2];
    fw_read(nb, 2);
    uint64_t cpus = uint64_t(nb[0] | nb[1] << 8);
    uint64_t ram = fw_le64(0x03); // FW_CFG_RAM_SIZE
    s.cpus = cpus;
    if (cpus == 0 || cpus > max_cpus) {
        config_error("unsupported vCPU count (1-32)");
    }
    if (c.readers > cpus) {
        config_error("more readers than vCPUs");
    }
    uint64_t ws_pages = c.ws_mib * (1 << 20) / page;
    uint64_t low_ram = ram < 0xc0000000ULL ? ram : 0xc0000000ULL;
    if (ws_base + cpus * ws_pages * page > low_ram) {
        config_error("working sets do not fit in RAM below 3 GiB: raise -m "
                     "or lower ws_mib");
    }
    s.ws_pages = ws_pages;
    uint64_t hot = ws_pages * c.hot_pct / 100;
    if (c.hot_pct && !hot) {
        hot = 1;
    }
    s.hot_pages = hot < ws_pages ? hot : 0; // hot_pct=100 is uniform
    s.hot_share = c.hot_share;
    if (c.burst_ms && c.idle_ms) {
        s.burst_ms = c.burst_ms;
        s.idle_ms = c.idle_ms;
    }
    for (unsigned i = 0; i < cpus; ++i) {
        volatile BareCpu &r = s.cpu[i];
        r.role = uint64_t(i >= cpus - c.readers ? Role::reader : Role::writer);
        r.rate = i < c.nrates ? c.rates[i] : c.rate;
        r.region_gpa = ws_base + i * ws_pages * page;
        r.region_pages = ws_pages;
    }
    s.tsc_khz = calibrate_tsc_khz();
    setup_tables();
    s.magic = status_magic;
    if (cpus > 1) {
        start_other_cpus();
    }
    cpu_main(0);
}
