using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>The device side of an emulated MMIO access: the VMM's model of the register behind a guest-physical address.</summary>
public interface IMmioHandler
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2, 4 or 8) at <paramref name="gpa"/>; the low <paramref name="size"/> bytes of the result count.</summary>
    ulong Read(ulong gpa, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/> at <paramref name="gpa"/>.</summary>
    void Write(ulong gpa, int size, ulong value);
}

/// <summary>Outcome of emulating one faulting instruction.</summary>
public readonly struct MmioEmulationResult
{
    internal MmioEmulationResult(MmioDecodeError error, in MmioAccess access, ulong loadedValue)
    {
        Error = error;
        Access = access;
        LoadedValue = loadedValue;
    }

    /// <summary><see cref="MmioDecodeError.None"/> when the instruction was emulated; otherwise why it was not.</summary>
    public MmioDecodeError Error { get; }

    /// <summary>True when the access went to the handler and RIP advanced.</summary>
    public bool IsEmulated => Error == MmioDecodeError.None;

    /// <summary>The decoded access (for a load, <see cref="MmioAccess.Value"/> stays 0; <see cref="LoadedValue"/> has the data).</summary>
    public MmioAccess Access { get; }

    /// <summary>For an emulated load: the <see cref="MmioAccess.Size"/>-byte value the handler returned.</summary>
    public ulong LoadedValue { get; }
}

/// <summary>
/// Completes an MMIO exit the way a hypervisor's instruction emulator does: decodes the faulting
/// instruction, performs the access through an <see cref="IMmioHandler"/>, writes a load's result into
/// the destination register with x86-64 width rules and advances RIP past the instruction. A rejected
/// instruction leaves the vCPU untouched (a real VMM would then inject #UD/#GP or stop the guest).
/// Allocation-free per instruction; one instance per vCPU.
/// </summary>
public sealed class MmioEmulator
{
    const int SizeSlots = 4; // 1, 2, 4, 8 bytes

    readonly MmioDecoder _decoder = new();
    readonly ILogger _logger;
    readonly long[] _byForm = new long[(int)MmioOperandForm.LoadSignExtend + 1];
    readonly long[] _byFormAndSize = new long[((int)MmioOperandForm.LoadSignExtend + 1) * SizeSlots];
    readonly long[] _byAddressing = new long[(int)MmioAddressingMode.Absolute + 1];
    readonly long[] _byError = new long[(int)MmioDecodeError.AddressMismatch + 1];

    /// <summary>Creates an emulator that logs rejected instructions to <paramref name="logger"/>.</summary>
    public MmioEmulator(ILogger? logger = null) => _logger = logger ?? NullLogger.Instance;

    /// <summary>Instructions emulated since the last <see cref="ResetCounters"/>.</summary>
    public long InstructionsEmulated { get; private set; }

    /// <summary>Instructions rejected since the last <see cref="ResetCounters"/>.</summary>
    public long InstructionsRejected { get; private set; }

    /// <summary>Emulated instructions of <paramref name="form"/>.</summary>
    public long CountByForm(MmioOperandForm form) => _byForm[(int)form];

    /// <summary>Emulated instructions of <paramref name="form"/> with access size <paramref name="size"/> (1, 2, 4 or 8).</summary>
    public long CountByForm(MmioOperandForm form, int size) => _byFormAndSize[(int)form * SizeSlots + SizeSlot(size)];

    /// <summary>Emulated instructions whose memory operand used <paramref name="mode"/>.</summary>
    public long CountByAddressing(MmioAddressingMode mode) => _byAddressing[(int)mode];

    /// <summary>Rejected instructions with <paramref name="error"/>.</summary>
    public long CountByError(MmioDecodeError error) => _byError[(int)error];

    /// <summary>Zeroes all counters.</summary>
    public void ResetCounters()
    {
        InstructionsEmulated = InstructionsRejected = 0;
        Array.Clear(_byForm);
        Array.Clear(_byFormAndSize);
        Array.Clear(_byAddressing);
        Array.Clear(_byError);
    }

    /// <summary>
    /// Emulates the instruction whose bytes start at <paramref name="instruction"/> (fetched at
    /// <c>regs.Rip</c>) for an MMIO exit at <paramref name="faultingGpa"/>.
    /// </summary>
    public MmioEmulationResult Emulate(ReadOnlySpan<byte> instruction, VcpuRegisters regs, ulong faultingGpa, IMmioHandler handler)
    {
        ArgumentNullException.ThrowIfNull(regs);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_decoder.TryDecode(instruction, regs, faultingGpa, out MmioAccess access, out MmioDecodeError error))
        {
            InstructionsRejected++;
            _byError[(int)error]++;
            if (_logger.IsEnabled(LogLevel.Warning))
                Log.Rejected(_logger, regs.Rip, faultingGpa,
                    Convert.ToHexString(instruction.Length > MmioDecoder.MaxInstructionLength ? instruction[..MmioDecoder.MaxInstructionLength] : instruction),
                    error);
            return new MmioEmulationResult(error, access, 0);
        }

        ulong mask = MmioDecoder.Mask(access.Size);
        ulong loaded = 0;
        if (access.IsWrite)
        {
            handler.Write(access.EffectiveAddress, access.Size, access.Value & mask);
        }
        else
        {
            loaded = handler.Read(access.EffectiveAddress, access.Size) & mask;
            ulong result = access.Extension == MmioExtension.SignExtend ? SignExtend(loaded, access.Size) : loaded;
            // Set applies the destination's width rules: r8/r16 merge, r32 zero-extends to 64 (SDM Vol. 1 §3.4.1.1).
            regs.Set(access.DestinationRegister, result);
        }
        Log.Emulated(_logger, regs.Rip, access.Form, access.Size, access.EffectiveAddress, access.Addressing, access.IsWrite ? access.Value : loaded);
        regs.Rip += (ulong)access.Length;

        InstructionsEmulated++;
        _byForm[(int)access.Form]++;
        _byFormAndSize[(int)access.Form * SizeSlots + SizeSlot(access.Size)]++;
        _byAddressing[(int)access.Addressing]++;
        return new MmioEmulationResult(MmioDecodeError.None, access, loaded);
    }

    static ulong SignExtend(ulong value, int size)
    {
        int shift = 64 - size * 8;
        return (ulong)((long)(value << shift) >> shift);
    }

    static int SizeSlot(int size) => size switch
    {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, "access size is 1, 2, 4 or 8"),
    };
}
