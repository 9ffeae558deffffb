// The kernel's first instructions: one core, a known exception level, a stack and a zeroed BSS.
//
// Booted from kernel8.img (the firmware's way, and QEMU's with -kernel on a raw image) only core 0 comes
// here, at EL2, with x0 = device tree or ATAG pointer; cores 1-3 wait in the firmware's spin table at
// 0xE0/0xE8/0xF0. Booted as an ELF under QEMU, all four cores arrive here at EL3. Both are handled.

.equ SPIN_TABLE_CORE1, 0xE0
.equ SPIN_TABLE_CORE2, 0xE8
.equ SPIN_TABLE_CORE3, 0xF0

// SCR_EL3: NS (0) and RES1 bits 4-5, HCE (8) so EL2 can use HVC, RW (10) so EL2 is AArch64.
.equ SCR_EL3_VALUE, (1 << 10) | (1 << 8) | (1 << 5) | (1 << 4) | (1 << 0)
// SPSR for an exception return to ELxh (using SP_ELx) with D, A, I and F masked.
.equ SPSR_EL2H_MASKED, (0xF << 6) | 0b1001
.equ SPSR_EL1H_MASKED, (0xF << 6) | 0b0101
// HCR_EL2.RW: EL1 runs in AArch64.
.equ HCR_EL2_RW, (1 << 31)
// CPTR_EL2 with TFP (10) clear: FP/SIMD not trapped to EL2. Bits 0-9, 12 and 13 are RES1.
.equ CPTR_EL2_VALUE, 0x33FF
// CPACR_EL1.FPEN = 0b11: FP/SIMD usable at EL1 and EL0. The Rust target uses NEON registers anywhere,
// even in memcpy, so this must be set before the first line of Rust runs.
.equ CPACR_EL1_FPEN, (0b11 << 20)
// SCTLR_EL1 with MMU, caches and alignment checks off; RES1 bits 29, 28, 23, 22, 20, 11.
.equ SCTLR_EL1_RESET, 0x30D00800

// Load the address of a symbol, PC-relative: until the MMU is on, the kernel runs at its physical load
// address, not at the upper-half address it is linked at, so this yields the symbol's physical address.
.macro ADR_REL register, symbol
    adrp \register, \symbol
    add \register, \register, #:lo12:\symbol
.endm

// From whatever level the core entered at (EL3 for an ELF boot, EL2 from the firmware, or EL1) to EL1h,
// with every interrupt masked, continuing at `at_el1`. Uses x9 only; sets no stack.
.macro DROP_TO_EL1 at_el1
    mrs x9, CurrentEL
    lsr x9, x9, #2
    cmp x9, #3
    b.eq .Lfrom_el3\@
    cmp x9, #2
    b.eq .Lfrom_el2\@
    b \at_el1

.Lfrom_el3\@:
    ldr x9, =SCR_EL3_VALUE
    msr SCR_EL3, x9
    mov x9, #SPSR_EL2H_MASKED
    msr SPSR_EL3, x9
    adr x9, .Lfrom_el2\@
    msr ELR_EL3, x9
    eret

.Lfrom_el2\@:
    mov x9, #HCR_EL2_RW
    msr HCR_EL2, x9
    // EL1 may read the physical counter and use the physical timer (EL1PCTEN, EL1PCEN); no offset.
    mrs x9, CNTHCTL_EL2
    orr x9, x9, #0b11
    msr CNTHCTL_EL2, x9
    msr CNTVOFF_EL2, xzr
    mov x9, #CPTR_EL2_VALUE
    msr CPTR_EL2, x9
    msr HSTR_EL2, xzr
    mov x9, #SPSR_EL1H_MASKED
    msr SPSR_EL2, x9
    adr x9, \at_el1
    msr ELR_EL2, x9
    eret
.endm

// What every core does first at EL1: SCTLR_EL1 known (MMU and caches off), FP/SIMD on, and the exception
// vectors at their physical address, so nothing that faults goes unnoticed.
.macro EL1_BASICS
    ldr x9, =SCTLR_EL1_RESET
    msr SCTLR_EL1, x9
    mov x9, #CPACR_EL1_FPEN
    msr CPACR_EL1, x9
    ADR_REL x9, __exception_vectors
    msr VBAR_EL1, x9
    isb
.endm

.section .text._start
.global _start
_start:
    mrs x9, MPIDR_EL1
    and x9, x9, #0xFF
    cbnz x9, secondary_park        // ELF boot: cores 1-3 come here too.
    mov x19, x0                    // Keep the firmware's x0 (device tree or ATAGs) for Rust.

    DROP_TO_EL1 .Lat_el1

.Lat_el1:
    EL1_BASICS

    ADR_REL x9, __boot_stack_top
    mov sp, x9

    ADR_REL x9, __bss_start
    ADR_REL x10, __bss_end
.Lzero_bss:
    cmp x9, x10
    b.hs .Lbss_done
    stp xzr, xzr, [x9], #16
    b .Lzero_bss
.Lbss_done:

    // Move cores 1-3 from the firmware's spin table into the kernel's own park loop. Caches are still
    // off, so the stores reach memory where the waiting cores read them.
    ADR_REL x9, secondary_park
    mov x10, #SPIN_TABLE_CORE1
    str x9, [x10]
    str x9, [x10, #(SPIN_TABLE_CORE2 - SPIN_TABLE_CORE1)]
    str x9, [x10, #(SPIN_TABLE_CORE3 - SPIN_TABLE_CORE1)]
    dsb sy
    sev

    // Still at the physical load address: early_boot (position-independent Rust) finds the board, builds
    // the boot translation tables and turns the MMU on with the kernel's linear map in TTBR1_EL1 and,
    // for the next few instructions, the same map at the physical addresses in TTBR0_EL1.
    mov x0, x19
    bl early_boot

    // Now move to the addresses the kernel is linked at (literal-pool loads give link-time addresses).
    ldr x9, =__boot_stack_top
    mov sp, x9
    ldr x9, =__exception_vectors
    msr VBAR_EL1, x9
    isb
    mov x0, x19
    ldr x9, =_start_rust
    br x9

// Cores 1-3 wait here until `smp` starts them. WFI, not WFE: QEMU treats WFE as a mere yield, so a WFE
// loop burns a whole host core, while WFI halts the virtual core until an interrupt is pending (masked or
// not). So each parked core first lets an IPI reach it, the one `arch::smp::release` sends after writing
// the core's entry point into __secondary_entry[core] and cleaning that line to the point of coherency
// (these cores run with caches off and read RAM). Which controller it arms comes from MIDR_EL1, as the
// board does for the boot core; the addresses are the board tables' (boards/*/board.toml).
.equ MIDR_PART_CORTEX_A72, 0xD08
// GIC-400 (raspi4b): this core's banked SGI enable and priorities, and its CPU interface.
.equ GICD_ISENABLER0, 0xFF841100
.equ GICD_IPRIORITYR0, 0xFF841400
.equ GICC_CTLR, 0xFF842000
.equ GICC_PMR, 0xFF842004
// BCM2836 local controller (raspi3b): core n's mailbox interrupt control at 0x40000050 + 4n.
.equ LOCAL_MAILBOX_INTERRUPT_CONTROL, 0x40000050

.global secondary_park
secondary_park:
    mrs x9, MPIDR_EL1
    and x9, x9, #0xFF
    mrs x12, MIDR_EL1
    ubfx x12, x12, #4, #12
    cmp x12, #MIDR_PART_CORTEX_A72
    b.ne .Lpark_bcm2836
    // SGI 0 (gic400::IPI_SGI) enabled at the highest priority; the CPU interface on, nothing masked.
    mov w13, #1
    ldr x14, =GICD_ISENABLER0
    str w13, [x14]
    ldr x14, =GICD_IPRIORITYR0
    str wzr, [x14]
    mov w13, #0xFF
    ldr x14, =GICC_PMR
    str w13, [x14]
    mov w13, #1
    ldr x14, =GICC_CTLR
    str w13, [x14]
    b .Lpark_armed
.Lpark_bcm2836:
    // Mailbox 0 (bcm2836_local's IPI mailbox) to this core's IRQ line.
    ldr x14, =LOCAL_MAILBOX_INTERRUPT_CONTROL
    mov w13, #1
    str w13, [x14, x9, lsl #2]
.Lpark_armed:
    dsb sy
    ADR_REL x10, __secondary_entry
.Lpark_loop:
    ldr x11, [x10, x9, lsl #3]
    cbnz x11, .Lpark_release
    wfi
    b .Lpark_loop
.Lpark_release:
    br x11

// Where a released core goes (`arch::smp` writes this address into __secondary_entry): the boot core's
// path in short. To EL1, then the MMU on with the very settings the boot core runs with, which
// `arch::smp` left in this core's record of __secondary_boot (upper-half tables in TTBR1_EL1, and in
// TTBR0_EL1 the same tables' identity view for the jump), then the upper half, with the stack the
// record names, and Rust.
.equ SECONDARY_BOOT_RECORD_SHIFT, 6
.equ RECORD_MAIR, 0
.equ RECORD_TCR, 8
.equ RECORD_TTBR, 16
.equ RECORD_SCTLR, 24
.equ RECORD_STACK_TOP, 32

.global secondary_start
secondary_start:
    DROP_TO_EL1 .Lsecondary_at_el1
.Lsecondary_at_el1:
    EL1_BASICS
    mrs x19, MPIDR_EL1
    and x19, x19, #0xFF
    ADR_REL x20, __secondary_boot
    add x20, x20, x19, lsl #SECONDARY_BOOT_RECORD_SHIFT
    ldr x9, [x20, #RECORD_MAIR]
    msr MAIR_EL1, x9
    ldr x9, [x20, #RECORD_TCR]
    msr TCR_EL1, x9
    ldr x9, [x20, #RECORD_TTBR]
    msr TTBR0_EL1, x9
    msr TTBR1_EL1, x9
    // Arm ARM D8.14: no stale translation or instruction may survive from before the enable.
    dsb ish
    tlbi vmalle1
    ic iallu
    dsb ish
    isb
    ldr x9, [x20, #RECORD_SCTLR]
    msr SCTLR_EL1, x9
    isb
    ldr x21, [x20, #RECORD_STACK_TOP]
    ldr x9, =.Lsecondary_upper_half
    br x9
.Lsecondary_upper_half:
    mov sp, x21
    ldr x9, =__exception_vectors
    msr VBAR_EL1, x9
    isb
    mov x0, x19
    ldr x9, =_secondary_start_rust
    br x9

.section .data
.balign 8
.global __secondary_entry
__secondary_entry:
    .quad 0, 0, 0, 0
