// The EL1 exception vector table: each entry saves the interrupted context on the stack as an
// ExceptionFrame (see exception.rs, whose layout must match) and calls a Rust handler with a pointer to it.
// When the handler returns, the (possibly changed) context is restored and ERET resumes it.

// Layout of an ExceptionFrame (exception.rs): x0-x30, ELR_EL1, SPSR_EL1, ESR_EL1, FAR_EL1, SP_EL0,
// TPIDR_EL0 (38 words), then q0-q31 and FPCR, FPSR. The FP/SIMD registers are saved on every entry:
// the kernel is compiled with NEON and uses it anywhere (memcpy), so without this an interrupt or system
// call would corrupt the interrupted code's vector registers.
.equ FRAME_GENERAL, 38 * 8
.equ FRAME_SIZE, FRAME_GENERAL + 32 * 16 + 16

.macro SAVE_CONTEXT_CALL_HANDLER handler
.balign 0x80
    sub sp, sp, #FRAME_SIZE
    stp x0, x1, [sp, #16 * 0]
    stp x2, x3, [sp, #16 * 1]
    stp x4, x5, [sp, #16 * 2]
    stp x6, x7, [sp, #16 * 3]
    stp x8, x9, [sp, #16 * 4]
    stp x10, x11, [sp, #16 * 5]
    stp x12, x13, [sp, #16 * 6]
    stp x14, x15, [sp, #16 * 7]
    stp x16, x17, [sp, #16 * 8]
    stp x18, x19, [sp, #16 * 9]
    stp x20, x21, [sp, #16 * 10]
    stp x22, x23, [sp, #16 * 11]
    stp x24, x25, [sp, #16 * 12]
    stp x26, x27, [sp, #16 * 13]
    stp x28, x29, [sp, #16 * 14]
    mrs x1, ELR_EL1
    stp x30, x1, [sp, #16 * 15]
    b \handler\()_save_rest
.endm

// The part of the save that does not fit in the 32 instructions of a vector entry.
.macro SAVE_REST_AND_CALL handler
\handler\()_save_rest:
    mrs x1, SPSR_EL1
    mrs x2, ESR_EL1
    stp x1, x2, [sp, #16 * 16]
    mrs x1, FAR_EL1
    mrs x2, SP_EL0
    stp x1, x2, [sp, #16 * 17]
    mrs x1, TPIDR_EL0
    str x1, [sp, #16 * 18]
    add x1, sp, #FRAME_GENERAL
    stp q0, q1, [x1, #32 * 0]
    stp q2, q3, [x1, #32 * 1]
    stp q4, q5, [x1, #32 * 2]
    stp q6, q7, [x1, #32 * 3]
    stp q8, q9, [x1, #32 * 4]
    stp q10, q11, [x1, #32 * 5]
    stp q12, q13, [x1, #32 * 6]
    stp q14, q15, [x1, #32 * 7]
    stp q16, q17, [x1, #32 * 8]
    stp q18, q19, [x1, #32 * 9]
    stp q20, q21, [x1, #32 * 10]
    stp q22, q23, [x1, #32 * 11]
    stp q24, q25, [x1, #32 * 12]
    stp q26, q27, [x1, #32 * 13]
    stp q28, q29, [x1, #32 * 14]
    stp q30, q31, [x1, #32 * 15]
    mrs x2, FPCR
    mrs x3, FPSR
    add x1, x1, #32 * 16
    stp x2, x3, [x1]
    mov x0, sp
    bl \handler
    b __exception_restore_context
.endm

.section .text
.balign 0x800
.global __exception_vectors
__exception_vectors:
    // Current EL with SP_EL0: cowpi never runs EL1 code on SP_EL0.
    SAVE_CONTEXT_CALL_HANDLER current_el0_synchronous
    SAVE_CONTEXT_CALL_HANDLER current_el0_irq
    SAVE_CONTEXT_CALL_HANDLER current_el0_fiq
    SAVE_CONTEXT_CALL_HANDLER current_el0_serror
    // Current EL with SP_ELx: the kernel.
    SAVE_CONTEXT_CALL_HANDLER current_elx_synchronous
    SAVE_CONTEXT_CALL_HANDLER current_elx_irq
    SAVE_CONTEXT_CALL_HANDLER current_elx_fiq
    SAVE_CONTEXT_CALL_HANDLER current_elx_serror
    // Lower EL, AArch64: user tasks.
    SAVE_CONTEXT_CALL_HANDLER lower_aarch64_synchronous
    SAVE_CONTEXT_CALL_HANDLER lower_aarch64_irq
    SAVE_CONTEXT_CALL_HANDLER lower_aarch64_fiq
    SAVE_CONTEXT_CALL_HANDLER lower_aarch64_serror
    // Lower EL, AArch32: never used.
    SAVE_CONTEXT_CALL_HANDLER lower_aarch32_synchronous
    SAVE_CONTEXT_CALL_HANDLER lower_aarch32_irq
    SAVE_CONTEXT_CALL_HANDLER lower_aarch32_fiq
    SAVE_CONTEXT_CALL_HANDLER lower_aarch32_serror
.balign 0x80

    SAVE_REST_AND_CALL current_el0_synchronous
    SAVE_REST_AND_CALL current_el0_irq
    SAVE_REST_AND_CALL current_el0_fiq
    SAVE_REST_AND_CALL current_el0_serror
    SAVE_REST_AND_CALL current_elx_synchronous
    SAVE_REST_AND_CALL current_elx_irq
    SAVE_REST_AND_CALL current_elx_fiq
    SAVE_REST_AND_CALL current_elx_serror
    SAVE_REST_AND_CALL lower_aarch64_synchronous
    SAVE_REST_AND_CALL lower_aarch64_irq
    SAVE_REST_AND_CALL lower_aarch64_fiq
    SAVE_REST_AND_CALL lower_aarch64_serror
    SAVE_REST_AND_CALL lower_aarch32_synchronous
    SAVE_REST_AND_CALL lower_aarch32_irq
    SAVE_REST_AND_CALL lower_aarch32_fiq
    SAVE_REST_AND_CALL lower_aarch32_serror

// Must be entered with IRQs masked: an interrupt between the writes to SPSR_EL1/ELR_EL1 below and the
// ERET would replace them with its own return state.
.global __exception_restore_context
__exception_restore_context:
    add x1, sp, #FRAME_GENERAL
    ldp q0, q1, [x1, #32 * 0]
    ldp q2, q3, [x1, #32 * 1]
    ldp q4, q5, [x1, #32 * 2]
    ldp q6, q7, [x1, #32 * 3]
    ldp q8, q9, [x1, #32 * 4]
    ldp q10, q11, [x1, #32 * 5]
    ldp q12, q13, [x1, #32 * 6]
    ldp q14, q15, [x1, #32 * 7]
    ldp q16, q17, [x1, #32 * 8]
    ldp q18, q19, [x1, #32 * 9]
    ldp q20, q21, [x1, #32 * 10]
    ldp q22, q23, [x1, #32 * 11]
    ldp q24, q25, [x1, #32 * 12]
    ldp q26, q27, [x1, #32 * 13]
    ldp q28, q29, [x1, #32 * 14]
    ldp q30, q31, [x1, #32 * 15]
    add x1, x1, #32 * 16
    ldp x2, x3, [x1]
    msr FPCR, x2
    msr FPSR, x3
    ldr x1, [sp, #16 * 17 + 8]
    msr SP_EL0, x1
    ldr x1, [sp, #16 * 18]
    msr TPIDR_EL0, x1
    ldp x1, x2, [sp, #16 * 16]
    msr SPSR_EL1, x1
    ldp x30, x1, [sp, #16 * 15]
    msr ELR_EL1, x1
    ldp x0, x1, [sp, #16 * 0]
    ldp x2, x3, [sp, #16 * 1]
    ldp x4, x5, [sp, #16 * 2]
    ldp x6, x7, [sp, #16 * 3]
    ldp x8, x9, [sp, #16 * 4]
    ldp x10, x11, [sp, #16 * 5]
    ldp x12, x13, [sp, #16 * 6]
    ldp x14, x15, [sp, #16 * 7]
    ldp x16, x17, [sp, #16 * 8]
    ldp x18, x19, [sp, #16 * 9]
    ldp x20, x21, [sp, #16 * 10]
    ldp x22, x23, [sp, #16 * 11]
    ldp x24, x25, [sp, #16 * 12]
    ldp x26, x27, [sp, #16 * 13]
    ldp x28, x29, [sp, #16 * 14]
    add sp, sp, #FRAME_SIZE
    eret
