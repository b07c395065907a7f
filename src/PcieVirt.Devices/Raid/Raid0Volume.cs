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
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            RaidLocation at = Locate(walk.Lba);
            if (!DriveRead(at.Slot, at.DriveLba, walk.Length, destination.Slice(walk.Done * BlockSize, walk.Length * BlockSize)))
                return false;
        }
        return true;
    }

    private protected override bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source)
    {
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            RaidLocation at = Locate(walk.Lba);
            if (!DriveWrite(at.Slot, at.DriveLba, walk.Length, source.Slice(walk.Done * BlockSize, walk.Length * BlockSize)))
                return false;
        }
        return true;
    }

    private protected override bool ZeroOnce(long lba, int count)
    {
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            RaidLocation at = Locate(walk.Lba);
            if (!DriveTrim(at.Slot, at.DriveLba, walk.Length))
                return false;
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
