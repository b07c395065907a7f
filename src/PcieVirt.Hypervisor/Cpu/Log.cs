using Microsoft.Extensions.Logging;

namespace PcieVirt.Hypervisor.Cpu;

/// <summary>Log messages of the vCPU instruction emulator. Per-instruction traces are at Trace level.</summary>
internal static partial class Log
{
    // --- MMIO instruction emulation (7300-7319) ---

    [LoggerMessage(EventId = 7300, Level = LogLevel.Warning, Message = "MMIO exit at RIP 0x{Rip:x}, GPA 0x{Gpa:x}: instruction {Bytes} not emulated: {Error}")]
    public static partial void Rejected(ILogger logger, ulong rip, ulong gpa, string bytes, MmioDecodeError error);

    [LoggerMessage(EventId = 7301, Level = LogLevel.Trace, Message = "MMIO exit at RIP 0x{Rip:x}: {Form} {Size} B at 0x{Gpa:x} ({Addressing}) value 0x{Value:x}")]
    public static partial void Emulated(ILogger logger, ulong rip, MmioOperandForm form, int size, ulong gpa, MmioAddressingMode addressing, ulong value);
}
