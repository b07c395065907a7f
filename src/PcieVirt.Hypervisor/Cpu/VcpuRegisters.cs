using Iced.Intel;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>
/// The guest-visible integer state of one vCPU in 64-bit mode: the 16 general registers, RIP and RFLAGS.
/// Sub-registers are read and written by their <see cref="Register"/> name with the architectural rules
/// (Intel SDM Vol. 1 §3.4.1.1): a 32-bit write zero-extends into the full 64-bit register, an 8- or
/// 16-bit write leaves the other bits alone, and AH/CH/DH/BH name bits 15:8 of RAX/RCX/RDX/RBX.
/// Nothing here allocates.
/// </summary>
public sealed class VcpuRegisters
{
    /// <summary>Number of general registers in 64-bit mode (RAX..R15).</summary>
    public const int GeneralRegisterCount = 16;

    readonly ulong[] _gpr = new ulong[GeneralRegisterCount];

    /// <summary>Instruction pointer.</summary>
    public ulong Rip { get; set; }

    /// <summary>Flags register (MOV, the only instruction family we emulate, leaves it alone).</summary>
    public ulong Rflags { get; set; } = 0x2; // bit 1 is reserved and reads as 1 (SDM Vol. 1 §3.4.3)

    /// <summary>Full 64-bit value of general register <paramref name="number"/> (0 = RAX … 15 = R15, the encoding order).</summary>
    public ulong GetGpr(int number) => _gpr[number];

    /// <summary>Sets the full 64-bit general register <paramref name="number"/> (0 = RAX … 15 = R15).</summary>
    public void SetGpr(int number, ulong value) => _gpr[number] = value;

    /// <summary>Sets every general register to zero, RIP to zero and RFLAGS to its reset value.</summary>
    public void Clear()
    {
        Array.Clear(_gpr);
        Rip = 0;
        Rflags = 0x2;
    }

    /// <summary>Copies all state from <paramref name="other"/>.</summary>
    public void CopyFrom(VcpuRegisters other)
    {
        ArgumentNullException.ThrowIfNull(other);
        other._gpr.AsSpan().CopyTo(_gpr);
        Rip = other.Rip;
        Rflags = other.Rflags;
    }

    /// <summary>True when <paramref name="register"/> is a general register, a sub-register of one, RIP or EIP.</summary>
    public static bool IsSupported(Register register) =>
        register is >= Register.AL and <= Register.R15 || register is Register.RIP or Register.EIP;

    /// <summary>Width in bytes of a supported register (1, 2, 4 or 8).</summary>
    public static int SizeOf(Register register) => register switch
    {
        >= Register.AL and <= Register.R15L => 1,
        >= Register.AX and <= Register.R15W => 2,
        (>= Register.EAX and <= Register.R15D) or Register.EIP => 4,
        (>= Register.RAX and <= Register.R15) or Register.RIP => 8,
        _ => throw Unsupported(register),
    };

    /// <summary>
    /// Value of <paramref name="register"/>, zero-extended to 64 bits (AH is bits 15:8 of RAX, shifted down).
    /// </summary>
    public ulong Get(Register register)
    {
        switch (register)
        {
            case >= Register.AL and <= Register.R15L:
                int b = register - Register.AL;
                // Byte registers without REX: AL CL DL BL AH CH DH BH; with REX the last four are SPL BPL SIL DIL.
                // Iced lists AL..BL, AH..BH, SPL..DIL, R8L..R15L, so indices 4..7 are the high bytes.
                return b is >= 4 and <= 7 ? (_gpr[b - 4] >> 8) & 0xFF : _gpr[b < 4 ? b : b - 4] & 0xFF;
            case >= Register.AX and <= Register.R15W:
                return _gpr[register - Register.AX] & 0xFFFF;
            case >= Register.EAX and <= Register.R15D:
                return _gpr[register - Register.EAX] & 0xFFFF_FFFF;
            case >= Register.RAX and <= Register.R15:
                return _gpr[register - Register.RAX];
            case Register.RIP:
                return Rip;
            case Register.EIP:
                return Rip & 0xFFFF_FFFF;
            default:
                throw Unsupported(register);
        }
    }

    /// <summary>
    /// Writes <paramref name="value"/> (truncated to the register's width) to <paramref name="register"/>
    /// with x86-64 merge rules: 32-bit destinations zero the upper half, 8/16-bit destinations keep the rest.
    /// </summary>
    public void Set(Register register, ulong value)
    {
        switch (register)
        {
            case >= Register.AL and <= Register.R15L:
                int b = register - Register.AL;
                if (b is >= 4 and <= 7)
                {
                    ref ulong high = ref _gpr[b - 4];
                    high = (high & ~0xFF00UL) | ((value & 0xFF) << 8);
                }
                else
                {
                    ref ulong low = ref _gpr[b < 4 ? b : b - 4];
                    low = (low & ~0xFFUL) | (value & 0xFF);
                }
                return;
            case >= Register.AX and <= Register.R15W:
                ref ulong word = ref _gpr[register - Register.AX];
                word = (word & ~0xFFFFUL) | (value & 0xFFFF);
                return;
            case >= Register.EAX and <= Register.R15D:
                // SDM Vol. 1 §3.4.1.1: 32-bit operands produce a 32-bit result, zero-extended to 64 bits.
                _gpr[register - Register.EAX] = value & 0xFFFF_FFFF;
                return;
            case >= Register.RAX and <= Register.R15:
                _gpr[register - Register.RAX] = value;
                return;
            case Register.RIP:
                Rip = value;
                return;
            default:
                throw Unsupported(register);
        }
    }

    static ArgumentOutOfRangeException Unsupported(Register register) =>
        new(nameof(register), register, "not a general register, RIP or EIP");
}
