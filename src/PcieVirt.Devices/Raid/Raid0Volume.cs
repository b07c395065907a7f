using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// RAID 0: chunk k of the volume (blocks k·C … k·C + C − 1) is on slot k mod N at row k div N, as Linux md
/// raid0 places it over equal-sized members. No redundancy: losing any member fails the volume.
/// </summary>
public sealed class Raid0Volume : RaidVolume
{
    internal Raid0Volume(int id, string name, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks, ILogger logger)
        : base(id, name, RaidLevel.Raid0, drives, chunkBlocks, Capacity(drives, chunkBlocks), 0, logger)
    {
    }

    /// <summary>Volume size in blocks for these members: N × rows × C.</summary>
    public static long Capacity(IReadOnlyList<PhysicalDrive> drives, int chunkBlocks) =>
        drives.Count * (drives.Min(d => d.BlockCount) / chunkBlocks) * chunkBlocks;

    public override int FaultTolerance => 0;

    public override RaidLocation Locate(long lba, int copy = 0)
    {
        long chunk = lba / ChunkBlocks;
        return new RaidLocation((int)(chunk % MemberCount), chunk / MemberCount * ChunkBlocks + lba % ChunkBlocks);
    }

    private protected override bool ReadOnce(long lba, int count, Span<byte> destination)
    {
        int done = 0;
        while (done < count)
        {
            RaidLocation at = Locate(lba + done);
            int n = Math.Min(count - done, ChunkBlocks - (int)((lba + done) % ChunkBlocks));
            if (!DriveRead(at.Slot, at.DriveLba, n, destination.Slice(done * BlockSize, n * BlockSize)))
                return false;
            done += n;
        }
        return true;
    }

    private protected override bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source)
    {
        int done = 0;
        while (done < count)
        {
            RaidLocation at = Locate(lba + done);
            int n = Math.Min(count - done, ChunkBlocks - (int)((lba + done) % ChunkBlocks));
            if (!DriveWrite(at.Slot, at.DriveLba, n, source.Slice(done * BlockSize, n * BlockSize)))
                return false;
            done += n;
        }
        return true;
    }

    private protected override bool ZeroOnce(long lba, int count)
    {
        int done = 0;
        while (done < count)
        {
            RaidLocation at = Locate(lba + done);
            int n = Math.Min(count - done, ChunkBlocks - (int)((lba + done) % ChunkBlocks));
            if (!DriveTrim(at.Slot, at.DriveLba, n))
                return false;
            done += n;
        }
        return true;
    }

    private protected override bool RebuildRow(long row) => true;

    private protected override bool IsRecoverable()
    {
        foreach (MemberSlot slot in Slots)
        {
            if (slot.State != MemberState.InSync)
                return false;
        }
        return true;
    }
}
