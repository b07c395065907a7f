using PcieVirt.Fabric;

namespace PcieVirt.Tests.Platform.HostOs;

/// <summary>An <see cref="IConfigAccessor"/> in front of another that records every access with the virtual time it was made at.</summary>
sealed class RecordingAccessor(IConfigAccessor inner, VirtualClock clock) : IConfigAccessor
{
    public readonly record struct Access(bool Write, PciAddress Address, int Offset, int Width, uint Value, CompletionStatus Status, ulong Time)
    {
        public override string ToString() => $"{(Write ? "W" : "R")} {Address} +0x{Offset:x3}/{Width} = 0x{Value:x} {Status} @{Time}";
    }

    public List<Access> Log { get; } = [];
    public string Name => inner.Name;
    public IReadOnlyList<PciAddress> Functions() => inner.Functions();

    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value)
    {
        var st = inner.Read(address, offset, width, out value);
        Log.Add(new Access(false, address, offset, width, value, st, clock.Now));
        return st;
    }

    public CompletionStatus Write(PciAddress address, int offset, int width, uint value)
    {
        var st = inner.Write(address, offset, width, value);
        Log.Add(new Access(true, address, offset, width, value, st, clock.Now));
        return st;
    }

    /// <summary>Accesses to <paramref name="address"/> at offsets [from, from + length), as (W/R, relative offset, width, value).</summary>
    public List<(char Op, int Rel, int Width, uint Value)> Within(PciAddress address, int from, int length) =>
        Log.Where(a => a.Address == address && a.Offset >= from && a.Offset < from + length)
           .Select(a => (a.Write ? 'W' : 'R', a.Offset - from, a.Width, a.Value)).ToList();
}
