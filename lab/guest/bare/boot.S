/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bare guest's start-up, loaded with -bios: the CPU resets into the
 * last 16 bytes of this 64 KiB image (0xfffffff0). Real mode -> 32-bit
 * protected mode -> copy the 64-bit payload and the AP trampoline to RAM,
 * build identity page tables (0-4 GiB, 2 MiB pages, user-accessible) ->
 * long mode -> bare_main() in bare.cpp. Ring-0 code is emulated (slow)
 * under kvm_pvm, so this does as little as it can.
 *
 * Application processors start at 0x8000 (SIPI vector 0x08) in the
 * trampoline copied there, take the same way to long mode, pick an index
 * and a stack, and call cpu_main(index).
 */

#include "miglab/bare_layout.h"

#define BOOT_CS32   0x08
#define BOOT_DS     0x10
#define BOOT_CS64   0x18
#define PML4        0x1000
#define PDPT        0x2000
#define PD0         0x3000
/* Stacks, their ring-0 tops and the vCPU limit: bare_layout.h's. */
#define STACK_BASE  MIGLAB_BARE_STACK_BASE
#define STACK_SIZE  MIGLAB_BARE_STACK_SIZE
#define RING0_STACK MIGLAB_BARE_RING0_STACK
#define MAX_CPUS    MIGLAB_BARE_MAX_CPUS

/* ------------------------------------------------------------------ */
/* The boot GDT: flat 32-bit code and data, 64-bit code. Accessed bits */
/* are preset so the CPU never writes to the ROM.                      */
        .macro boot_gdt_entries
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08: code, 32-bit */
        .quad 0x00cf93000000ffff        /* 0x10: data */
        .quad 0x00af9b000000ffff        /* 0x18: code, 64-bit */
        .endm

/* Enable PAE and long mode and turn paging on; expects 32-bit PM. */
        .macro enter_long_mode
        movl    %cr4, %eax
        orl     $0x20, %eax             /* PAE */
        movl    %eax, %cr4
        movl    $PML4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx       /* EFER */
        rdmsr
        orl     $0x100, %eax            /* LME */
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax       /* PG | PE */
        movl    %eax, %cr0
        .endm

/* ------------------------------------------------------------------ */
        .section .rom, "ax"
        .code16
        .globl  reset16
reset16:
        cli
        cld
        lgdtl   %cs:(rom_gdt_desc - 0xffff0000)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $BOOT_CS32, $pm32

        .code32
pm32:
        movl    $BOOT_DS, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs

        /* Mask both PICs: nothing may interrupt the guest. */
        movb    $0xff, %al
        outb    %al, $0x21
        outb    %al, $0xa1

        /* Payload and trampoline to RAM, .bss cleared. */
        movl    $__payload_lma, %esi
        movl    $__payload_start, %edi
        movl    $__payload_dwords, %ecx
        rep movsl
        movl    $__tramp_lma, %esi
        movl    $__tramp_start, %edi
        movl    $__tramp_dwords, %ecx
        rep movsl
        xorl    %eax, %eax
        movl    $__bss_start, %edi
        movl    $__bss_dwords, %ecx
        rep stosl

        /* Page tables: clear 6 pages, then PML4[0] -> PDPT, */
        /* PDPT[0..3] -> PD0..PD3, 2048 2 MiB pages (P|RW|US|PS). */
        movl    $PML4, %edi
        movl    $(6 * 1024), %ecx
        rep stosl
        movl    $(PDPT | 7), PML4
        movl    $(PD0 | 7), %eax
        movl    $PDPT, %edi
1:      movl    %eax, (%edi)
        addl    $0x1000, %eax
        addl    $8, %edi
        cmpl    $(PDPT + 32), %edi
        jne     1b
        movl    $0x87, %eax
        movl    $PD0, %edi
2:      movl    %eax, (%edi)
        addl    $0x200000, %eax
        addl    $8, %edi
        cmpl    $(PD0 + 4 * 4096), %edi
        jne     2b

        enter_long_mode
        ljmpl   $BOOT_CS64, $bsp64

        .code64
bsp64:
        movq    $(STACK_BASE + RING0_STACK), %rsp
        movabsq $bare_main, %rax
        callq   *%rax
3:      hlt
        jmp     3b

        .balign 8
rom_gdt:
        boot_gdt_entries
rom_gdt_desc:
        .word   rom_gdt_desc - rom_gdt - 1
        .long   rom_gdt

        .section .resetvec, "ax"
        .code16
        jmp     reset16
        .balign 16, 0xf4

/* ------------------------------------------------------------------ */
/* AP trampoline, linked at 0x8000 and copied there.                    */
        .section .tramp, "ax"
        .code16
        .globl  ap_tramp
ap_tramp:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ds
        lgdtl   tramp_gdt_desc
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $BOOT_CS32, $ap_pm32

        .code32
ap_pm32:
        movl    $BOOT_DS, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        enter_long_mode
        ljmpl   $BOOT_CS64, $ap_lm64

        .code64
ap_lm64:
        movabsq $ap_entry64, %rax
        jmpq    *%rax

        .balign 8
tramp_gdt:
        boot_gdt_entries
tramp_gdt_desc:
        .word   tramp_gdt_desc - tramp_gdt - 1
        .long   tramp_gdt
        .balign 4

/* ------------------------------------------------------------------ */
/* 64-bit code in the payload.                                          */
        .text
        .code64

/* An AP in long mode: take the next index, its stack, then cpu_main. */
ap_entry64:
        movl    $BOOT_DS, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    $1, %eax
        lock xaddl %eax, next_cpu_index(%rip)
        cmpl    $MAX_CPUS, %eax
        jae     9f
        movl    %eax, %edi
        movq    %rdi, %rsp
        shlq    $16, %rsp               /* x STACK_SIZE, checked below */
        addq    $(STACK_BASE + RING0_STACK), %rsp
        callq   cpu_main
9:      cli
        hlt
        jmp     9b

        .if STACK_SIZE != (1 << 16)
        .error "ap_entry64 shifts by 16 for STACK_SIZE"
        .endif

/* void enter_ring3(void (*entry)(unsigned), uint64_t rsp, unsigned arg) */
        .globl  enter_ring3
enter_ring3:
        movl    %edx, %eax
        pushq   $(0x18 | 3)             /* SS: user data */
        pushq   %rsi                    /* RSP */
        pushq   $0x2                    /* RFLAGS: IF = 0 */
        pushq   $(0x20 | 3)             /* CS: user code, 64-bit */
        pushq   %rdi                    /* RIP */
        movl    %eax, %edi
        xorl    %eax, %eax
        movl    %eax, %ds
        movl    %eax, %es
        iretq

/* void load_segments(void): CS = 0x08, data = 0x10 of the runtime GDT. */
        .globl  load_segments
load_segments:
        movl    $0x10, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        popq    %rax
        pushq   $0x08
        pushq   %rax
        lretq

/* Exception stubs: push a zero error code where the CPU pushes none,  */
/* then the vector, and report from ring 0 (on_exception never returns). */
        .macro exc_stub vec
        .balign 16
        .if (\vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
        .else
        pushq   $0
        .endif
        pushq   $\vec
        jmp     exc_common
        .endm

        .balign 16
        .globl  exc_stubs
exc_stubs:
        .set    vec, 0
        .rept   32
        exc_stub vec
        .set    vec, vec + 1
        .endr

exc_common:
        movq    (%rsp), %rdi            /* vector */
        movq    8(%rsp), %rsi           /* error code */
        movq    16(%rsp), %rdx          /* RIP */
        movq    %cr2, %rcx
        andq    $-16, %rsp
        callq   on_exception
1:      cli
        hlt
        jmp     1b

/* Other vectors (a stray interrupt): acknowledge nothing, return. */
        .globl  irq_ignore
irq_ignore:
        iretq

        .data
        .balign 4
next_cpu_index:
        .long   1

        .section .note.GNU-stack, "", @progbits
