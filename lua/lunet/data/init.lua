-- lunet.data: datasets, the DataLoader and dataset makers for real data.
--
--   local data = require "lunet.data"
--   local ds = data.SegmentationFolder{images = "img", masks = "masks", transform = tf}
--   local loader = data.DataLoader(ds, {batch_size = 8, shuffle = true, seed = 1})
--   for batch, i in loader:iter() do ... end     -- batch.image N x C x H x W float32,
--                                                -- batch.mask N x H x W int32
--
-- A dataset is anything with :len() (or __len) and :get(i) (1-based) returning
-- {image=, mask=}; TensorDataset and SegmentationFolder apply ds.transform (called as
-- transform{image=, mask=}) in get. Subset(ds, indices) and random_split(ds, {0.8, 0.2},
-- {seed = 1}) pick items of a dataset (as torch.utils.data). Makers: fashion_mnist{}, tuxpaint{}, labelme_voc{}
-- (see lunet/data/makers.lua); each names the Debian package to install when its files
-- are missing.
local dataset = require "lunet.data.dataset"
local loader = require "lunet.data.loader"
local makers = require "lunet.data.makers"
local workers = require "lunet.data.workers"
local volumes = require "lunet.data.volumes"

return {
  TensorDataset = dataset.TensorDataset,
  SegmentationFolder = dataset.SegmentationFolder,
  Subset = dataset.Subset,
  random_split = dataset.random_split,
  DataLoader = loader.DataLoader,
  collate = loader.collate,
  get_worker_info = workers.get_worker_info,
  fashion_mnist = makers.fashion_mnist,
  tuxpaint = makers.tuxpaint,
  labelme_voc = makers.labelme_voc,
  volumes = volumes.volumes,   -- synthetic volumes (v3d)
  volumes_classes = volumes.CLASSES,
  tuxpaint_instances = require("lunet.data.tuxpaint_instances").tuxpaint_instances,
}
