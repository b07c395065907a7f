using Iced.Intel;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>What an MMIO instruction does with its data, as a driver compiler emits it.</summary>
public enum MmioOperandForm
{
    /// <summary><c>mov [mem], reg</c> (opcodes 88/89): stores a register of the access size.</summary>
    StoreRegister,
    /// <summary><c>mov [mem], imm</c> (opcodes C6/C7 /0): imm8/16/32; a qword store sign-extends its imm32.</summary>
    StoreImmediate,
    /// <summary><c>mov reg, [mem]</c> (opcodes 8A/8B): loads into a register of the access size.</summary>
    Load,
    /// <summary><c>movzx reg, byte/word [mem]</c> (0F B6/B7): loads and zero-extends.</summary>
    LoadZeroExtend,
    /// <summary><c>movsx reg, byte/word [mem]</c> (0F BE/BF) and <c>movsxd r64, [mem]</c> (63): loads and sign-extends.</summary>
    LoadSignExtend,
}

/// <summary>How the memory operand's effective address is formed (ModRM/SIB forms, Intel SDM Vol. 2 §2.1.5, §2.2.1.6).</summary>
public enum MmioAddressingMode
{
    /// <summary><c>[base]</c>: ModRM mod=00 (or SIB for RSP/R12), no displacement.</summary>
    Base,
    /// <summary><c>[base+disp8]</c>: mod=01, sign-extended 8-bit displacement.</summary>
    BaseDisp8,
    /// <summary><c>[base+disp32]</c>: mod=10, sign-extended 32-bit displacement.</summary>
    BaseDisp32,
    /// <summary><c>[base+index*scale+disp]</c>: SIB byte with an index register.</summary>
    BaseIndexScaleDisp,
    /// <summary><c>[rip+disp32]</c>: mod=00 r/m=101, relative to the next instruction.</summary>
    RipRelative,
    /// <summary><c>[disp32]</c>: SIB with no base and no index; the displacement is sign-extended to 64 bits.</summary>
    Absolute,
}

/// <summary>How a load's value reaches its destination register.</summary>
public enum MmioExtension
{
    /// <summary>Plain MOV (or a store): destination width equals the access size.</summary>
    None,
    /// <summary>MOVZX: zero-extended to the destination width.</summary>
    ZeroExtend,
    /// <summary>MOVSX/MOVSXD: sign-extended to the destination width.</summary>
    SignExtend,
}

/// <summary>Why an instruction at an MMIO exit was not emulated.</summary>
public enum MmioDecodeError
{
    /// <summary>Decoded and accepted.</summary>
    None,
    /// <summary>The bytes end before the instruction does (or there are none).</summary>
    Truncated,
    /// <summary>The bytes are not a valid 64-bit-mode instruction (the CPU would raise #UD).</summary>
    InvalidInstruction,
    /// <summary>A valid instruction we do not emulate: read-modify-write ALU ops, string ops, SIMD/AVX moves, …</summary>
    UnsupportedInstruction,
    /// <summary>A LOCK prefix: an atomic read-modify-write on MMIO, which we do not emulate.</summary>
    LockPrefix,
    /// <summary>An FS/GS segment override: the vCPU model has no segment bases.</summary>
    SegmentOverride,
    /// <summary>An address-size (67h) prefix: 32-bit addressing in 64-bit mode, which drivers do not emit.</summary>
    AddressSizeOverride,
    /// <summary>The instruction has no memory operand, so it cannot have caused an MMIO exit.</summary>
    NoMemoryOperand,
    /// <summary>The effective address computed from the registers is not the faulting guest-physical address.</summary>
    AddressMismatch,
}

/// <summary>One decoded MMIO access: what the faulting instruction reads or writes, where and how wide.</summary>
public readonly struct MmioAccess
{
    internal MmioAccess(MmioOperandForm form, MmioAddressingMode addressing, int size, ulong effectiveAddress, ulong value,
        Register source, Register destination, MmioExtension extension, int length)
    {
        Form = form;
        Addressing = addressing;
        Size = size;
        EffectiveAddress = effectiveAddress;
        Value = value;
        SourceRegister = source;
        DestinationRegister = destination;
        Extension = extension;
        Length = length;
    }

    /// <summary>Instruction form (store of a register or immediate, plain/extending load).</summary>
    public MmioOperandForm Form { get; }

    /// <summary>Addressing form of the memory operand as encoded.</summary>
    public MmioAddressingMode Addressing { get; }

    /// <summary>True for a store to the device, false for a load from it.</summary>
    public bool IsWrite => Form is MmioOperandForm.StoreRegister or MmioOperandForm.StoreImmediate;

    /// <summary>Access width in bytes: 1, 2, 4 or 8.</summary>
    public int Size { get; }

    /// <summary>Guest address the instruction touches: base + index*scale + disp, or next RIP + disp32.</summary>
    public ulong EffectiveAddress { get; }

    /// <summary>For a store: the data written (register value or immediate after its extension), <see cref="Size"/> bytes wide. Zero for a load.</summary>
    public ulong Value { get; }

    /// <summary>For a register store: the register read; otherwise <see cref="Register.None"/>.</summary>
    public Register SourceRegister { get; }

    /// <summary>For a load: the register written; otherwise <see cref="Register.None"/>.</summary>
    public Register DestinationRegister { get; }

    /// <summary>For a load: how the value is widened into <see cref="DestinationRegister"/>.</summary>
    public MmioExtension Extension { get; }

    /// <summary>Instruction length in bytes (RIP advances by this much).</summary>
    public int Length { get; }
}
