// Switching between two tasks' kernel stacks (see context.rs).
//
// switch_context(from: *mut Context, to: *const Context) saves what the AAPCS64 says a called function
// must preserve (x19-x28, the frame pointer, the link register, SP and d8-d15) into *from, loads the same
// from *to and returns into `to`'s code. Everything else the caller has already saved, because to the
// compiler this is an ordinary call. IRQs are masked by the caller throughout.
//
// With several cores a task switched out on one core may be picked by another before its registers are
// saved here: the scheduler lock is let go before the switch. So each context has an on-CPU word (1 while
// its registers are live on some core): the switch clears `from`'s once they are saved (a release store,
// so the saved registers are visible first), then waits until `to`'s is clear (an acquire load, so it
// reads the registers another core saved) and sets it. Nothing between the clear and the load of `to`'s
// stack pointer touches memory but the two words, so the other core may already run `from` on its stack.
// Clearing before waiting means two cores switching to each other's outgoing task cannot wait on each
// other.
.equ CONTEXT_ON_CPU, 16 * 6 + 8

.section .text
.global switch_context
switch_context:
    mov x9, sp
    stp x19, x20, [x0, #16 * 0]
    stp x21, x22, [x0, #16 * 1]
    stp x23, x24, [x0, #16 * 2]
    stp x25, x26, [x0, #16 * 3]
    stp x27, x28, [x0, #16 * 4]
    stp x29, x30, [x0, #16 * 5]
    str x9, [x0, #16 * 6]
    stp d8, d9, [x0, #16 * 7]
    stp d10, d11, [x0, #16 * 8]
    stp d12, d13, [x0, #16 * 9]
    stp d14, d15, [x0, #16 * 10]
    add x10, x0, #CONTEXT_ON_CPU
    stlr xzr, [x10]

    add x10, x1, #CONTEXT_ON_CPU
1:  ldar x9, [x10]
    cbz x9, 2f
    yield
    b 1b
2:  mov x9, #1
    str x9, [x10]
    ldp x19, x20, [x1, #16 * 0]
    ldp x21, x22, [x1, #16 * 1]
    ldp x23, x24, [x1, #16 * 2]
    ldp x25, x26, [x1, #16 * 3]
    ldp x27, x28, [x1, #16 * 4]
    ldp x29, x30, [x1, #16 * 5]
    ldr x9, [x1, #16 * 6]
    mov sp, x9
    ldp d8, d9, [x1, #16 * 7]
    ldp d10, d11, [x1, #16 * 8]
    ldp d12, d13, [x1, #16 * 9]
    ldp d14, d15, [x1, #16 * 10]
    ret

// Where a new task's first switch_context returns to: x19 holds its entry function, x20 its argument.
.global task_trampoline
task_trampoline:
    bl task_started
    mov x0, x20
    blr x19
    // An entry function never returns (kernel_task_main exits the task); stop here if one does.
1:  wfi
    b 1b
