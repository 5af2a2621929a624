/* dlsym_tramp.S: the exported dlsym.
 *
 * glibc decides what dlsym(RTLD_NEXT, name) means from the return address of
 * the call: "the object after the caller's". A C override that forwarded
 * RTLD_NEXT through an ordinary call would make the shim the caller, and a
 * library that interposes a symbol and looks up the next definition (libomp's
 * ompt_start_tool during `import torch`) would find itself again and loop
 * forever. So RTLD_NEXT is forwarded here with a tail jump, leaving the
 * program's return address in place; every other handle goes to the C hook
 * (gs_dlsym_hook in interpose.c), where the caller does not matter.
 * tests/e2e/rtld_next.sh proves it.
 */
#if defined(__x86_64__)
	.text
	.globl	dlsym
	.type	dlsym, @function
	.p2align 4
dlsym:
	.cfi_startproc
#if defined(__CET__)
	endbr64
#endif
	cmpq	$-1, %rdi		/* RTLD_NEXT is (void *)-1 */
	je	1f
	jmp	gs_dlsym_hook
1:	movq	gs_real_dlsym(%rip), %rax
	testq	%rax, %rax
	jz	2f
	jmp	*%rax
2:	/* First use: resolve the real dlsym (dlvsym), keeping the arguments. */
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp		/* 16-byte stack alignment for the call */
	.cfi_adjust_cfa_offset 8
	call	gs_resolve_real_dlsym
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	jmp	*%rax
	.cfi_endproc
	.size	dlsym, .-dlsym

#elif defined(__aarch64__)
	.text
	.globl	dlsym
	.type	dlsym, %function
	.p2align 3
dlsym:
	.cfi_startproc
	cmn	x0, #1			/* RTLD_NEXT is (void *)-1 */
	b.eq	1f
	b	gs_dlsym_hook
1:	adrp	x16, gs_real_dlsym
	ldr	x16, [x16, :lo12:gs_real_dlsym]
	cbz	x16, 2f
	br	x16
2:	stp	x29, x30, [sp, #-32]!
	.cfi_def_cfa_offset 32
	.cfi_offset 29, -32
	.cfi_offset 30, -24
	mov	x29, sp
	stp	x0, x1, [sp, #16]
	bl	gs_resolve_real_dlsym
	mov	x16, x0
	ldp	x0, x1, [sp, #16]
	ldp	x29, x30, [sp], #32
	.cfi_def_cfa_offset 0
	br	x16
	.cfi_endproc
	.size	dlsym, .-dlsym
#else
#error "dlsym_tramp.S: no trampoline for this architecture"
#endif
	.section .note.GNU-stack,"",%progbits
