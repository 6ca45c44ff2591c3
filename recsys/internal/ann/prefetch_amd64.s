//go:build !purego

#include "textflag.h"

// func prefetchRows(base unsafe.Pointer, rows []int32, rowBytes int)
//
// Issues PREFETCHT0 for every cache line of rows[i]'s row, row r spanning
// [base + r*rowBytes, base + (r+1)*rowBytes). A prefetch never faults, so a bad row
// costs nothing but a wasted hint.
TEXT ·prefetchRows(SB), NOSPLIT, $0-40
	MOVQ base+0(FP), SI
	MOVQ rows_base+8(FP), DI
	MOVQ rows_len+16(FP), CX
	MOVQ rowBytes+32(FP), DX

row:
	TESTQ CX, CX
	JEQ   done
	MOVLQSX (DI), AX
	IMULQ DX, AX
	ADDQ  SI, AX
	LEAQ  -1(AX)(DX*1), BX

line:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, BX
	JLE  line
	PREFETCHT0 (BX)
	ADDQ $4, DI
	DECQ CX
	JMP  row

done:
	RET
