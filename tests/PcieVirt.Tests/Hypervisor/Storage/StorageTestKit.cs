using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Raid;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Tests.Devices.RaidController;

namespace PcieVirt.Tests.Hypervisor.Storage;

/// <summary>The default platform's RAID PF with one RAID 5 volume (4 drives, 64 MiB by default, 64 KiB stripes) seen by the host as a namespace.</summary>
internal sealed class StorageTestKit
{
    public StorageTestKit(string driveSize = "64M")
    {
        Platform = new RaidPlatform(driveSize: driveSize);
        var r = Platform.Device.CreateVolume(new VolumeSpec
        {
            Name = "vmfs0",
            Level = RaidLevel.Raid5,
            Members = ["d0", "d1", "d2", "d3"],
            StripeSizeBytes = 64 * 1024,
        });
        Assert.That(r.IsSuccess, Is.True, r.ToString());
        Volume = r.Value!;
        Nsid = Platform.Device.NamespaceOf(Volume);
        var a = Platform.Device.Attach("vmfs0", 0); // to the PF: the host sees the volume as a namespace
        Assert.That(a.IsSuccess, Is.True, a.ToString());
        Platform.PfDriver.IdentifyNamespaces(); // the volume was created after the driver came up
        Layer = new HostBlockLayer(Platform.PfDriver, Nsid);
    }

    public RaidPlatform Platform { get; }
    public RaidVolume Volume { get; }
    public uint Nsid { get; }
    public HostBlockLayer Layer { get; }
    public PcieVirt.Fabric.IPhysicalMemory Ram => Platform.Memory.Memory;

    public byte[] Peek(ulong address, int length)
    {
        var b = new byte[length];
        Ram.Read(address, b);
        return b;
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 31 + seed + (i >> 9));
        return b;
    }

    /// <summary>Volume blocks read directly from the RAID engine (not through the controller).</summary>
    public byte[] VolumeBytes(long lba, int bytes)
    {
        var b = new byte[bytes];
        Assert.That(Volume.Read(lba, bytes / 512, b).IsSuccess, Is.True);
        return b;
    }

    /// <summary>Writes <paramref name="data"/> into the segments in order.</summary>
    public void Scatter(ReadOnlySpan<HostSegment> segs, byte[] data)
    {
        int at = 0;
        foreach (var s in segs)
        {
            Ram.Write(s.Address, data.AsSpan(at, s.Length));
            at += s.Length;
        }
    }

    /// <summary>Reads the segments' bytes in order.</summary>
    public byte[] Gather(ReadOnlySpan<HostSegment> segs)
    {
        var list = new List<byte>();
        foreach (var s in segs) list.AddRange(Peek(s.Address, s.Length));
        return [.. list];
    }
}

internal sealed class RecordingSink : IHostBlockCompletion, IVirtualDiskCompletion
{
    public readonly List<(long Token, NvmeStatus Status)> Completions = [];
    public void OnHostBlockComplete(long token, NvmeStatus status) => Completions.Add((token, status));
    public void OnVirtualDiskComplete(long token, NvmeStatus status) => Completions.Add((token, status));
}

internal sealed class CountingSink : IHostBlockCompletion
{
    public long Count;
    public void OnHostBlockComplete(long token, NvmeStatus status) => Count++;
}
