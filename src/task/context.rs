//! A task's saved kernel-side registers, and the switch between two tasks.
//!
//! Each task runs on its own kernel stack. Switching tasks is a function call that returns on another
//! stack (`context.s`): only the registers a called function must preserve are saved here. A task's user
//! registers are not part of this: they were saved in the exception frame on its kernel stack when it
//! entered the kernel, and are restored when it returns to EL0.

use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(include_str!("context.s"));

/// Callee-saved registers of a task that is not running. The layout is shared with `context.s`.
#[repr(C)]
#[derive(Default)]
pub struct Context {
    /// x19-x28.
    callee_saved: [u64; 10],
    frame_pointer: u64,
    /// x30: where `switch_context` returns to.
    link_register: u64,
    stack_pointer: u64,
    /// 1 while the task's registers are live on a core, 0 once `switch_context` has saved them (see
    /// `context.s`).
    on_cpu: AtomicU64,
    /// d8-d15 (the low halves of v8-v15, which the AAPCS64 makes callee-saved).
    fp_callee_saved: [u64; 8],
}

const _: () = assert!(core::mem::size_of::<Context>() == 16 * 11);

unsafe extern "C" {
    /// See `context.s`.
    pub fn switch_context(from: *mut Context, to: *const Context);
    fn task_trampoline();
}

impl Context {
    /// Whether the task's registers are live on some core: it runs, or is in the middle of being
    /// switched out. Its kernel stack must not be freed until this is false.
    pub fn is_on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire) != 0
    }

    /// The context of a task that has not run yet: its first switch lands in `task_trampoline`, which calls
    /// `entry(argument)` on the stack whose top is `stack_top`.
    pub fn new_task(stack_top: u64, entry: extern "C" fn(usize) -> !, argument: usize) -> Context {
        let mut context = Context {
            stack_pointer: stack_top,
            link_register: task_trampoline as *const () as u64,
            ..Default::default()
        };
        context.callee_saved[0] = entry as *const () as u64;
        context.callee_saved[1] = argument as u64;
        context
    }
}
