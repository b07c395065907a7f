using PcieVirt.Hypervisor.Cpu;

namespace PcieVirt.Tests.Hypervisor.Cpu;

/// <summary>A device stand-in: remembers the last access and answers reads with a fixed value.</summary>
internal sealed class RecordingMmioHandler : IMmioHandler
{
    public ulong ReadValue { get; set; } = 0x8877_6655_4433_2211;
    public int Reads { get; private set; }
    public int Writes { get; private set; }
    public (ulong Gpa, int Size) LastRead { get; private set; }
    public (ulong Gpa, int Size, ulong Value) LastWrite { get; private set; }

    public ulong Read(ulong gpa, int size)
    {
        Reads++;
        LastRead = (gpa, size);
        return ReadValue;
    }

    public void Write(ulong gpa, int size, ulong value)
    {
        Writes++;
        LastWrite = (gpa, size, value);
    }
}
