using Iced.Intel;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>
/// Decodes the instruction that caused an MMIO exit (EPT violation or misconfiguration) with Iced, the way
/// a hypervisor's instruction emulator does: fetches at most 15 bytes at the guest RIP, recognises the MOV
/// family a driver uses for device registers, computes the effective address from the vCPU registers and
/// checks it against the guest-physical address the exit reported. One decoder and one reader are reused,
/// so a decode allocates nothing. Not thread-safe: one per vCPU.
/// </summary>
public sealed class MmioDecoder
{
    /// <summary>Longest x86 instruction: 15 bytes (Intel SDM Vol. 2, ch. 2); a longer one raises #GP.</summary>
    public const int MaxInstructionLength = 15;

    readonly InstructionBuffer _buffer = new();
    readonly Decoder _decoder;

    /// <summary>Creates a 64-bit-mode decoder.</summary>
    public MmioDecoder() => _decoder = Decoder.Create(64, _buffer, DecoderOptions.None);

    /// <summary>
    /// Decodes <paramref name="instruction"/> (the bytes at <see cref="VcpuRegisters.Rip"/>; extra bytes after
    /// the instruction are ignored) into <paramref name="access"/>. Returns false with <paramref name="error"/>
    /// set for anything that is not a supported MMIO move or whose effective address is not
    /// <paramref name="faultingGpa"/>; never throws for bad bytes.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> instruction, VcpuRegisters regs, ulong faultingGpa,
        out MmioAccess access, out MmioDecodeError error)
    {
        ArgumentNullException.ThrowIfNull(regs);
        access = default;
        if (instruction.IsEmpty)
        {
            error = MmioDecodeError.Truncated;
            return false;
        }
        _buffer.Load(instruction.Length > MaxInstructionLength ? instruction[..MaxInstructionLength] : instruction);
        _decoder.IP = regs.Rip;
        _decoder.Decode(out Instruction instr);
        if (_decoder.LastError != DecoderError.None || instr.Code == Code.INVALID)
        {
            // Running out of bytes with 15 available means the instruction would be longer than 15 bytes,
            // which the CPU rejects (#GP); with fewer, the caller simply did not pass the whole instruction.
            error = _decoder.LastError == DecoderError.NoMoreBytes && instruction.Length < MaxInstructionLength
                ? MmioDecodeError.Truncated
                : MmioDecodeError.InvalidInstruction;
            return false;
        }
        if (instr.HasLockPrefix)
        {
            error = MmioDecodeError.LockPrefix;
            return false;
        }

        if (!Classify(instr.Code, out MmioOperandForm form, out int size, out MmioExtension extension))
        {
            error = MmioDecodeError.UnsupportedInstruction;
            return false;
        }
        int memOperand = form is MmioOperandForm.StoreRegister or MmioOperandForm.StoreImmediate ? 0 : 1;
        if (instr.GetOpKind(memOperand) != OpKind.Memory)
        {
            error = MmioDecodeError.NoMemoryOperand;
            return false;
        }
        // In 64-bit mode CS/DS/ES/SS overrides are ignored (base 0); FS and GS add a base we do not model.
        if (instr.SegmentPrefix is Register.FS or Register.GS)
        {
            error = MmioDecodeError.SegmentOverride;
            return false;
        }
        if (HasAddressSizePrefix(instruction[..instr.Length]))
        {
            error = MmioDecodeError.AddressSizeOverride;
            return false;
        }

        ulong ea = EffectiveAddress(instr, regs, out MmioAddressingMode addressing);
        if (ea != faultingGpa)
        {
            error = MmioDecodeError.AddressMismatch;
            return false;
        }

        ulong value = 0;
        Register source = Register.None, destination = Register.None;
        switch (form)
        {
            case MmioOperandForm.StoreRegister:
                source = instr.Op1Register;
                value = regs.Get(source);
                break;
            case MmioOperandForm.StoreImmediate:
                // Immediate8/16/32 as encoded; for the qword form Iced gives the imm32 sign-extended to 64
                // bits (OpKind.Immediate32to64), which is what the CPU stores (SDM Vol. 2 MOV: "imm32
                // sign-extended to 64 bits").
                value = instr.GetImmediate(1) & Mask(size);
                break;
            default:
                destination = instr.Op0Register;
                break;
        }
        access = new MmioAccess(form, addressing, size, ea, value, source, destination, extension, instr.Length);
        error = MmioDecodeError.None;
        return true;
    }

    /// <summary>All-ones mask of <paramref name="size"/> bytes (1, 2, 4 or 8).</summary>
    internal static ulong Mask(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    static ulong EffectiveAddress(in Instruction instr, VcpuRegisters regs, out MmioAddressingMode mode)
    {
        if (instr.IsIPRelativeMemoryOperand)
        {
            // Iced resolves [rip+disp32] against the decoder's IP: next instruction's RIP + disp32 (SDM Vol. 2 §2.2.1.6).
            mode = MmioAddressingMode.RipRelative;
            return instr.IPRelativeMemoryAddress;
        }
        Register baseReg = instr.MemoryBase, index = instr.MemoryIndex;
        // 64-bit addressing: the displacement is sign-extended to 64 bits and the sum wraps modulo 2^64.
        ulong ea = instr.MemoryDisplacement64;
        if (baseReg != Register.None)
            ea += regs.Get(baseReg);
        if (index != Register.None)
            ea += regs.Get(index) * (ulong)instr.MemoryIndexScale;

        if (baseReg == Register.None && index == Register.None)
            mode = MmioAddressingMode.Absolute;
        else if (index != Register.None)
            mode = MmioAddressingMode.BaseIndexScaleDisp;
        else
            mode = instr.MemoryDisplSize switch
            {
                0 => MmioAddressingMode.Base,
                1 => MmioAddressingMode.BaseDisp8,
                _ => MmioAddressingMode.BaseDisp32,
            };
        return ea;
    }

    /// <summary>
    /// Whether the legacy prefixes before the opcode include 67h (SDM Vol. 2 §2.1.1, group 4). REX, if any,
    /// comes after them, so the scan stops at the first byte that is not a legacy prefix.
    /// </summary>
    static bool HasAddressSizePrefix(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            switch (b)
            {
                case 0x67:
                    return true;
                case 0xF0 or 0xF2 or 0xF3 or 0x2E or 0x36 or 0x3E or 0x26 or 0x64 or 0x65 or 0x66:
                    continue;
                default:
                    return false;
            }
        }
        return false;
    }

    static bool Classify(Code code, out MmioOperandForm form, out int size, out MmioExtension extension)
    {
        extension = MmioExtension.None;
        (form, size) = code switch
        {
            Code.Mov_rm8_r8 => (MmioOperandForm.StoreRegister, 1),
            Code.Mov_rm16_r16 => (MmioOperandForm.StoreRegister, 2),
            Code.Mov_rm32_r32 => (MmioOperandForm.StoreRegister, 4),
            Code.Mov_rm64_r64 => (MmioOperandForm.StoreRegister, 8),
            // MOV with a 64-bit absolute address (moffs, A0-A3): the accumulator only, no ModRM.
            Code.Mov_moffs8_AL => (MmioOperandForm.StoreRegister, 1),
            Code.Mov_moffs16_AX => (MmioOperandForm.StoreRegister, 2),
            Code.Mov_moffs32_EAX => (MmioOperandForm.StoreRegister, 4),
            Code.Mov_moffs64_RAX => (MmioOperandForm.StoreRegister, 8),
            Code.Mov_AL_moffs8 => (MmioOperandForm.Load, 1),
            Code.Mov_AX_moffs16 => (MmioOperandForm.Load, 2),
            Code.Mov_EAX_moffs32 => (MmioOperandForm.Load, 4),
            Code.Mov_RAX_moffs64 => (MmioOperandForm.Load, 8),
            Code.Mov_rm8_imm8 => (MmioOperandForm.StoreImmediate, 1),
            Code.Mov_rm16_imm16 => (MmioOperandForm.StoreImmediate, 2),
            Code.Mov_rm32_imm32 => (MmioOperandForm.StoreImmediate, 4),
            Code.Mov_rm64_imm32 => (MmioOperandForm.StoreImmediate, 8),
            Code.Mov_r8_rm8 => (MmioOperandForm.Load, 1),
            Code.Mov_r16_rm16 => (MmioOperandForm.Load, 2),
            Code.Mov_r32_rm32 => (MmioOperandForm.Load, 4),
            Code.Mov_r64_rm64 => (MmioOperandForm.Load, 8),
            Code.Movzx_r16_rm8 or Code.Movzx_r32_rm8 or Code.Movzx_r64_rm8 => (MmioOperandForm.LoadZeroExtend, 1),
            Code.Movzx_r16_rm16 or Code.Movzx_r32_rm16 or Code.Movzx_r64_rm16 => (MmioOperandForm.LoadZeroExtend, 2),
            Code.Movsx_r16_rm8 or Code.Movsx_r32_rm8 or Code.Movsx_r64_rm8 => (MmioOperandForm.LoadSignExtend, 1),
            Code.Movsx_r16_rm16 or Code.Movsx_r32_rm16 or Code.Movsx_r64_rm16 => (MmioOperandForm.LoadSignExtend, 2),
            Code.Movsxd_r64_rm32 => (MmioOperandForm.LoadSignExtend, 4),
            _ => ((MmioOperandForm)(-1), 0),
        };
        if (size == 0)
            return false;
        extension = form switch
        {
            MmioOperandForm.LoadZeroExtend => MmioExtension.ZeroExtend,
            MmioOperandForm.LoadSignExtend => MmioExtension.SignExtend,
            _ => MmioExtension.None,
        };
        return true;
    }

    /// <summary>The decoder's byte source: a fixed 15-byte buffer refilled per decode.</summary>
    sealed class InstructionBuffer : CodeReader
    {
        readonly byte[] _bytes = new byte[MaxInstructionLength];
        int _length, _position;

        public void Load(ReadOnlySpan<byte> instruction)
        {
            instruction.CopyTo(_bytes);
            _length = instruction.Length;
            _position = 0;
        }

        public override int ReadByte() => _position < _length ? _bytes[_position++] : -1;
    }
}
