using System.Buffers.Binary;
using Iced.Intel;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>
/// Which registers a compiled MMIO access uses. Each bank exercises a different corner of the encoding:
/// legacy registers, the high-byte registers (no REX allowed), REX registers r8–r15 (R12 as base needs a
/// SIB byte, R13 as index), and SIL (a byte register that needs an empty REX prefix).
/// </summary>
public enum MmioRegisterBank
{
    /// <summary>Data in RCX/ECX/CX/CL, base RAX, index RSI*4.</summary>
    Legacy,
    /// <summary>Data in RDX/EDX/DX/DH (byte stores/loads use DH, bits 15:8), base RBX, index RDI*8.</summary>
    HighByte,
    /// <summary>Data in R10/R10D/R10W/R10B, base R12, index R13*2.</summary>
    Rex,
    /// <summary>Data in RSI/ESI/SI/SIL, base R9, index R15*1.</summary>
    RexByte,
}

/// <summary>One shape of compiled MMIO access: operation, width, addressing form and registers.</summary>
/// <param name="Operand">Store of a register or immediate, or a plain/extending load.</param>
/// <param name="Size">Access width in bytes: 1, 2, 4 or 8 (extending loads: 1 or 2).</param>
/// <param name="Addressing">Memory operand form.</param>
/// <param name="Registers">Register bank.</param>
public readonly record struct MmioCodeForm(MmioOperandForm Operand, int Size, MmioAddressingMode Addressing, MmioRegisterBank Registers);

/// <summary>An instruction <see cref="GuestMmioCode"/> placed in a buffer.</summary>
public readonly struct GuestMmioInstruction
{
    internal GuestMmioInstruction(MmioCodeForm form, int length, Register dataRegister)
    {
        Form = form;
        Length = length;
        DataRegister = dataRegister;
    }

    /// <summary>The form emitted.</summary>
    public MmioCodeForm Form { get; }

    /// <summary>Instruction length in bytes.</summary>
    public int Length { get; }

    /// <summary>Register holding a store's data or receiving a load's result; <see cref="Register.None"/> for an immediate store.</summary>
    public Register DataRegister { get; }

    /// <summary>After the load has executed: the value read, the low <see cref="MmioCodeForm.Size"/> bytes of <see cref="DataRegister"/>.</summary>
    public ulong LoadedValue(VcpuRegisters regs) => regs.Get(DataRegister) & MmioDecoder.Mask(Form.Size);
}

/// <summary>
/// The guest driver's compiled code for MMIO: for a store or load at a guest-physical address it produces
/// the bytes of a real x86-64 MOV/MOVZX/MOVSX and sets up the vCPU registers (base, index, data, RIP) so
/// that executing it touches exactly that address with that value. Instructions are encoded once by
/// Iced's encoder into per-form templates; emitting copies a template and patches its immediate or
/// absolute displacement, so it allocates nothing. A rotation through the forms (<see cref="Select"/>)
/// makes the emulated path see every encoding.
/// </summary>
public sealed class GuestMmioCode
{
    /// <summary>Default RIP of the driver code (a kernel text address).</summary>
    public const ulong DefaultCodeAddress = 0xFFFF_FFFF_8100_0000;

    /// <summary>Value placed in the index register for <see cref="MmioAddressingMode.BaseIndexScaleDisp"/>.</summary>
    public const ulong IndexValue = 0x30;

    static readonly int[] Sizes = [1, 2, 4, 8];
    static readonly Bank[] Banks =
    [
        // data, base, index, scale, disp8, disp32, SIB displacement, RIP displacement
        new(1, 0, 6, 4, 0x18, 0x1008, 0x20, 0x2000),
        new(2, 3, 7, 8, 0x7F, 0x80, 0x1000, -0x3000),
        new(10, 12, 13, 2, -0x08, -0x1000, -0x40, 0x7FFF_0000),
        new(6, 9, 15, 1, -0x80, 0x12345, 0x7FF0, -0x10),
    ];

    const int OperandCount = (int)MmioOperandForm.LoadSignExtend + 1;
    const int AddressingCount = (int)MmioAddressingMode.Absolute + 1;

    static readonly Template?[] Templates = BuildTemplates(out AllFormsArray);
    static readonly MmioCodeForm[] AllFormsArray;
    // Candidate forms per (write?, size slot), in rotation order.
    static readonly MmioCodeForm[][] Rotation = BuildRotation();

    // Next rotation position per (write?, size): each stream of like accesses walks through all its forms.
    readonly ulong[] _next = new ulong[8];

    /// <summary>Creates the code generator; non-RIP-relative instructions are placed at <paramref name="codeAddress"/>.</summary>
    public GuestMmioCode(ulong codeAddress = DefaultCodeAddress) => CodeAddress = codeAddress;

    /// <summary>RIP given to instructions whose address does not depend on it.</summary>
    public ulong CodeAddress { get; }

    /// <summary>Every form this generator emits (operation × size × addressing × register bank).</summary>
    public static IReadOnlyList<MmioCodeForm> AllForms => AllFormsArray;

    /// <summary>Whether <paramref name="form"/> is one this generator emits.</summary>
    public static bool IsValid(in MmioCodeForm form) => TemplateIndex(form) is int i && Templates[i] is not null;

    /// <summary>
    /// Whether <paramref name="form"/> can express an access at <paramref name="gpa"/> storing
    /// <paramref name="value"/>: absolute addressing needs a GPA that is a sign-extended 32-bit number, and a
    /// qword immediate store needs a value that is a sign-extended imm32.
    /// </summary>
    public static bool CanEncode(in MmioCodeForm form, ulong gpa, ulong value)
    {
        if (!IsValid(form))
            return false;
        if (form.Addressing == MmioAddressingMode.Absolute && (long)gpa != (int)gpa)
            return false;
        if (form.Operand == MmioOperandForm.StoreImmediate && form.Size == 8 && (long)value != (int)value)
            return false;
        return true;
    }

    /// <summary>
    /// Writes the instruction for <paramref name="form"/> into <paramref name="instruction"/> (at least
    /// <see cref="MmioDecoder.MaxInstructionLength"/> bytes is always enough) and sets <paramref name="regs"/> so
    /// that its effective address is <paramref name="gpa"/>; for a store, the data register (or immediate)
    /// holds the low <see cref="MmioCodeForm.Size"/> bytes of <paramref name="value"/>. Other registers are left as they are.
    /// </summary>
    public GuestMmioInstruction Emit(in MmioCodeForm form, ulong gpa, ulong value, VcpuRegisters regs, Span<byte> instruction)
    {
        ArgumentNullException.ThrowIfNull(regs);
        if (!CanEncode(form, gpa, value))
            throw new ArgumentException($"form {form} cannot express an access at 0x{gpa:x} of value 0x{value:x}", nameof(form));
        Template t = Templates[TemplateIndex(form)!.Value]!;
        if (instruction.Length < t.Length)
            throw new ArgumentException("buffer shorter than the instruction", nameof(instruction));

        Span<byte> bytes = instruction[..t.Length];
        t.Bytes.AsSpan(0, t.Length).CopyTo(bytes);
        Bank bank = Banks[(int)form.Registers];
        regs.Rip = CodeAddress;
        switch (form.Addressing)
        {
            case MmioAddressingMode.Base:
                regs.SetGpr(bank.Base, gpa);
                break;
            case MmioAddressingMode.BaseDisp8:
                regs.SetGpr(bank.Base, gpa - (ulong)bank.Disp8);
                break;
            case MmioAddressingMode.BaseDisp32:
                regs.SetGpr(bank.Base, gpa - (ulong)bank.Disp32);
                break;
            case MmioAddressingMode.BaseIndexScaleDisp:
                regs.SetGpr(bank.Index, IndexValue);
                regs.SetGpr(bank.Base, gpa - IndexValue * (ulong)bank.Scale - (ulong)bank.SibDisp);
                break;
            case MmioAddressingMode.RipRelative:
                // The displacement counts from the end of the instruction (SDM Vol. 2 §2.2.1.6).
                regs.Rip = gpa - (ulong)bank.RipDisp - (ulong)t.Length;
                break;
            case MmioAddressingMode.Absolute:
                BinaryPrimitives.WriteInt32LittleEndian(bytes[t.DispOffset..], (int)gpa);
                break;
        }
        if (form.Operand == MmioOperandForm.StoreImmediate)
        {
            Span<byte> imm = bytes[t.ImmOffset..];
            switch (t.ImmSize)
            {
                case 1: imm[0] = (byte)value; break;
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(imm, (ushort)value); break;
                default: BinaryPrimitives.WriteUInt32LittleEndian(imm, (uint)value); break;
            }
        }
        else if (form.Operand == MmioOperandForm.StoreRegister)
        {
            regs.Set(t.Data, value);
        }
        return new GuestMmioInstruction(form, t.Length, t.Data);
    }

    /// <summary>
    /// The form used for access number <paramref name="sequence"/>: a fixed rotation over every form of that
    /// direction and size, skipping forms that cannot express <paramref name="gpa"/>/<paramref name="value"/>.
    /// Deterministic: the same arguments give the same form.
    /// </summary>
    public static MmioCodeForm Select(bool isWrite, int size, ulong gpa, ulong value, ulong sequence)
    {
        MmioCodeForm[] candidates = Rotation[(isWrite ? 4 : 0) + SizeSlot(size)];
        int start = (int)(sequence % (ulong)candidates.Length);
        for (int i = 0; i < candidates.Length; i++)
        {
            MmioCodeForm f = candidates[(start + i) % candidates.Length];
            if (CanEncode(f, gpa, value))
                return f;
        }
        throw new InvalidOperationException("no form can express the access"); // unreachable: register forms always can
    }

    /// <summary>Emits the next store of this size in the rotation (see <see cref="Select"/>).</summary>
    public GuestMmioInstruction EmitStore(ulong gpa, int size, ulong value, VcpuRegisters regs, Span<byte> instruction) =>
        Emit(Select(true, size, gpa, value, _next[4 + SizeSlot(size)]++), gpa, value, regs, instruction);

    /// <summary>Emits the next load of this size in the rotation; read the result with <see cref="GuestMmioInstruction.LoadedValue"/> after emulation.</summary>
    public GuestMmioInstruction EmitLoad(ulong gpa, int size, VcpuRegisters regs, Span<byte> instruction) =>
        Emit(Select(false, size, gpa, 0, _next[SizeSlot(size)]++), gpa, 0, regs, instruction);

    static int SizeSlot(int size) => size switch
    {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, "access size is 1, 2, 4 or 8"),
    };

    static int? TemplateIndex(in MmioCodeForm form)
    {
        if ((uint)form.Operand >= OperandCount || (uint)form.Addressing >= AddressingCount || (uint)form.Registers >= (uint)Banks.Length)
            return null;
        if (form.Size is not (1 or 2 or 4 or 8))
            return null;
        return (((int)form.Operand * Sizes.Length + SizeSlot(form.Size)) * AddressingCount + (int)form.Addressing) * Banks.Length + (int)form.Registers;
    }

    static Register Gpr(int number, int size) => size switch
    {
        8 => Register.RAX + number,
        4 => Register.EAX + number,
        2 => Register.AX + number,
        _ => number < 4 ? Register.AL + number : Register.AL + number + 4, // skip AH..BH: SPL, BPL, SIL, DIL, R8L..
    };

    static Template?[] BuildTemplates(out MmioCodeForm[] all)
    {
        var templates = new Template?[OperandCount * Sizes.Length * AddressingCount * Banks.Length];
        var forms = new List<MmioCodeForm>();
        var writer = new TemplateWriter();
        var encoder = Encoder.Create(64, writer);
        for (int op = 0; op < OperandCount; op++)
        foreach (int size in Sizes)
        for (int mode = 0; mode < AddressingCount; mode++)
        for (int b = 0; b < Banks.Length; b++)
        {
            var form = new MmioCodeForm((MmioOperandForm)op, size, (MmioAddressingMode)mode, (MmioRegisterBank)b);
            if (form.Operand is MmioOperandForm.LoadZeroExtend or MmioOperandForm.LoadSignExtend && size > 2)
                continue;
            templates[TemplateIndex(form)!.Value] = Build(form, encoder, writer);
            forms.Add(form);
        }
        all = forms.ToArray();
        return templates;
    }

    static Template Build(MmioCodeForm form, Encoder encoder, TemplateWriter writer)
    {
        const ulong templateRip = 0x1_0000_0000;
        Bank bank = Banks[(int)form.Registers];
        Register baseReg = Register.RAX + bank.Base, index = Register.RAX + bank.Index;
        MemoryOperand mem = form.Addressing switch
        {
            MmioAddressingMode.Base => new MemoryOperand(baseReg, Register.None, 1, 0, 0),
            MmioAddressingMode.BaseDisp8 => new MemoryOperand(baseReg, Register.None, 1, bank.Disp8, 1),
            MmioAddressingMode.BaseDisp32 => new MemoryOperand(baseReg, Register.None, 1, bank.Disp32, 8),
            MmioAddressingMode.BaseIndexScaleDisp => new MemoryOperand(baseReg, index, bank.Scale, bank.SibDisp, bank.SibDisp is >= sbyte.MinValue and <= sbyte.MaxValue ? 1 : 8),
            // Iced takes the absolute target of a RIP-relative operand; the displacement is patched below.
            MmioAddressingMode.RipRelative => new MemoryOperand(Register.RIP, Register.None, 1, (long)templateRip + 0x100, 8),
            _ => new MemoryOperand(Register.None, Register.None, 1, 0x1234_5678, 8),
        };
        // Extending loads write a 32-bit register, as compilers emit for byte/word reads (MOVZX r32, r/m8).
        Register data = form.Operand switch
        {
            MmioOperandForm.StoreImmediate => Register.None,
            MmioOperandForm.LoadZeroExtend or MmioOperandForm.LoadSignExtend => Gpr(bank.Data, 4),
            _ => form.Registers == MmioRegisterBank.HighByte && form.Size == 1 ? Register.AH + bank.Data : Gpr(bank.Data, form.Size),
        };
        Instruction instruction = form.Operand switch
        {
            MmioOperandForm.StoreRegister => Instruction.Create(
                form.Size switch { 1 => Code.Mov_rm8_r8, 2 => Code.Mov_rm16_r16, 4 => Code.Mov_rm32_r32, _ => Code.Mov_rm64_r64 }, mem, data),
            MmioOperandForm.StoreImmediate => Instruction.Create(
                form.Size switch { 1 => Code.Mov_rm8_imm8, 2 => Code.Mov_rm16_imm16, 4 => Code.Mov_rm32_imm32, _ => Code.Mov_rm64_imm32 }, mem,
                form.Size switch { 1 => 0x5A, 2 => 0x5A5A, _ => 0x5A5A_5A5A }),
            MmioOperandForm.Load => Instruction.Create(
                form.Size switch { 1 => Code.Mov_r8_rm8, 2 => Code.Mov_r16_rm16, 4 => Code.Mov_r32_rm32, _ => Code.Mov_r64_rm64 }, data, mem),
            MmioOperandForm.LoadZeroExtend => Instruction.Create(form.Size == 1 ? Code.Movzx_r32_rm8 : Code.Movzx_r32_rm16, data, mem),
            _ => Instruction.Create(form.Size == 1 ? Code.Movsx_r32_rm8 : Code.Movsx_r32_rm16, data, mem),
        };

        writer.Reset();
        if (!encoder.TryEncode(instruction, templateRip, out uint length, out string? encodeError))
            throw new InvalidOperationException($"cannot encode {form}: {encodeError}");
        ConstantOffsets offsets = encoder.GetConstantOffsets();
        byte[] bytes = writer.Bytes[..(int)length];
        if (form.Addressing == MmioAddressingMode.RipRelative)
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offsets.DisplacementOffset), bank.RipDisp);
        return new Template(bytes, (int)length, data, offsets.DisplacementOffset, offsets.ImmediateOffset, offsets.ImmediateSize);
    }

    static MmioCodeForm[][] BuildRotation()
    {
        var rotation = new MmioCodeForm[8][];
        for (int slot = 0; slot < 8; slot++)
        {
            bool isWrite = slot >= 4;
            int size = Sizes[slot % 4];
            var list = new List<MmioCodeForm>();
            // AllForms order (operation, addressing, bank innermost): consecutive accesses change register bank first.
            foreach (MmioCodeForm f in AllFormsArray)
                if (f.Size == size && (f.Operand is MmioOperandForm.StoreRegister or MmioOperandForm.StoreImmediate) == isWrite)
                    list.Add(f);
            rotation[slot] = [.. list];
        }
        return rotation;
    }

    sealed record Bank(int Data, int Base, int Index, int Scale, int Disp8, int Disp32, int SibDisp, int RipDisp);

    sealed record Template(byte[] Bytes, int Length, Register Data, int DispOffset, int ImmOffset, int ImmSize);

    sealed class TemplateWriter : CodeWriter
    {
        public byte[] Bytes { get; } = new byte[MmioDecoder.MaxInstructionLength];
        int _length;
        public void Reset() => _length = 0;
        public override void WriteByte(byte value) => Bytes[_length++] = value;
    }
}
